"""Sends that cannot hold anyone up: the delivery decision as a table, and a slow-drip and a hanging receiver
beside a healthy one, through apprise, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from alerts.engine.db import notification_receipts, notifications
from alerts.notify.audiences import Outgoing, ref_of
from alerts.notify.delivery import Change, Event, Facts, Outcome, Policy, Reason, decide
from alerts.notify.dispatcher import Dispatcher
from alerts.notify.isolation import IsolatedSender, target_of
from alerts.notify.writer import Outbox
from facwatch.config import NotifySettings
from tests.fixtures.postgres import state_engine
from tests.fixtures.receivers import HttpReceiver, StuckReceiver
from tests.fixtures.waiting import wait_until

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
P = Policy(max_attempts=3, backoff_s=5, backoff_cap_s=600)
S = timedelta(seconds=1)


def facts(attempts: int, *, red: bool = False, elsewhere: bool = False) -> Facts:
    return Facts(attempts=attempts, red=red, delivered_elsewhere=elsewhere, policy=P)


SENT, REFUSED, UNKNOWN, NOT_STARTED = (Event(o, e) for o, e in (
    (Outcome.SENT, None), (Outcome.REFUSED, "503"), (Outcome.UNKNOWN, "no answer"), (Outcome.NOT_STARTED, None),
))  # fmt: skip

TABLE = [
    # a non-RED delivered: one channel is enough, the others are skipped
    (facts(1), SENT, Change("sent", 1, sent_at=NOW, skip_others=True), Reason.DELIVERED_ENOUGH),
    # a RED delivered: its other channels keep going
    (facts(1, red=True), SENT, Change("sent", 1, sent_at=NOW), Reason.DELIVERED),
    # refused on the first attempt: retried after 5 s, and the next channel wakes
    (facts(1), REFUSED, Change("failed", 1, NOW + 5 * S, "503", wake_next=True), Reason.RETRY),
    # refused again: the backoff doubles
    (facts(2), REFUSED, Change("failed", 2, NOW + 10 * S, "503", wake_next=True), Reason.RETRY),
    # refused after another channel delivered a non-RED: nobody else needs waking
    (facts(1, elsewhere=True), REFUSED, Change("failed", 1, NOW + 5 * S, "503"), Reason.RETRY),
    # a RED refused although another channel got it: the next channel still wakes
    (facts(1, red=True, elsewhere=True), REFUSED, Change("failed", 1, NOW + 5 * S, "503", wake_next=True), Reason.RETRY),
    # the last attempt refused: abandoned
    (facts(3), REFUSED, Change("abandoned", 3, None, "503", wake_next=True), Reason.GIVE_UP),
    # the deadline passed mid-send: outcome unknown, retried (same reference) after the backoff
    (facts(1), UNKNOWN, Change("failed", 1, NOW + 5 * S, "no answer", wake_next=True), Reason.UNKNOWN_RETRY),
    # outcome unknown on the last attempt: abandoned, saying so
    (facts(3), UNKNOWN, Change("abandoned", 3, None, "no answer", wake_next=True), Reason.UNKNOWN_GIVE_UP),
    # never started (target busy, stopping): not an attempt, no error, due again now, nobody woken
    (facts(1), NOT_STARTED, Change("pending", 0, NOW), Reason.NOT_STARTED),
    # never started, after earlier attempts: their count stays as it was
    (facts(3, red=True), NOT_STARTED, Change("pending", 2, NOW), Reason.NOT_STARTED),
]  # fmt: skip


@pytest.mark.parametrize(("facts_", "event", "change", "reason"), TABLE)
def test_what_a_sends_end_means_for_its_receipt(
    facts_: Facts, event: Event, change: Change, reason: Reason
) -> None:
    assert decide(facts_, event, NOW) == (change, reason)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("json://127.0.0.1:8080/engineer?x=1", "json://127.0.0.1:8080"),  # the path does not matter
        ("json://127.0.0.1:8080/owners", "json://127.0.0.1:8080"),  # so two paths share a target
        ("mailto://user:secret@mail.example.com:587?to=a@b", "mailto://mail.example.com:587"),  # no secrets
        ("wecom://corp/key", "wecom://corp"),  # no port
        ("nonsense-url", "nonsense-url"),  # not a URL: itself
    ],
)
def test_a_target_is_scheme_host_and_port(url: str, target: str) -> None:
    assert target_of(url) == target


def test_a_saturated_target_refuses_to_start_and_frees_its_slot_only_when_the_thread_ends() -> None:
    release = threading.Event()

    def hangs(url: str, title: str, body: str, outgoing: Outgoing) -> None:
        release.wait(10)

    sender = IsolatedSender(hangs, per_target=1, deadline_s=0.1)
    one = Outgoing("k", "s", None, "engineer", "p", ("json://a/",), "t", "b")
    first = sender.start("json://a:1/x", "t", "b", one)
    assert first is not None
    assert sender.start("json://a:1/y", "t", "b", one) is None  # same target, no slot: never started
    assert sender.start("json://b:1/", "t", "b", one) is not None  # another target is not held up
    sender.wait([first], float("inf"))
    result = first.result()
    assert result is not None and result.outcome is Outcome.UNKNOWN  # abandoned at its deadline...
    assert sender.busy("json://a:1/") == 1  # ...but its thread still runs: the slot stays taken
    release.set()
    wait_until(lambda: sender.busy("json://a:1/") == 0, 5, "the abandoned thread to end")
    assert sender.start("json://a:1/x", "t", "b", one) is not None


# --- real receivers: slow-drip and hanging beside a healthy one ----------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def red(key: str, *targets: str) -> Outgoing:
    return Outgoing(key, "lakeside", None, "engineer", key, targets, f"[RED] {key}", "电梯困人", level="red",
                    asset="b1-elev-1")  # fmt: skip


class Running:
    """The dispatcher in its own loop on wall-clock time, as the application runs it."""

    def __init__(self, dispatcher: Dispatcher, tick: float = 0.1) -> None:
        self.dispatcher = dispatcher
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, args=(tick,), daemon=True)
        self.thread.start()

    def _loop(self, tick: float) -> None:
        while not self.stop.wait(tick):
            self.dispatcher.deliver_pending(datetime.now(UTC))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.dispatcher.close(wait_s=0)


def receipt(engine: Engine, key: str) -> tuple[str, int, str | None]:
    r, n = notification_receipts, notifications
    with engine.connect() as conn:
        row = conn.execute(
            select(r.c.status, r.c.attempts, r.c.error)
            .join(n, n.c.id == r.c.notification_id)
            .where(n.c.key == key)
        ).one()
    return row.status, row.attempts, row.error


def test_a_slow_and_a_hanging_receiver_hold_up_nobody(
    engine: Engine, http_receiver: HttpReceiver, slow_receiver: StuckReceiver, hanging_receiver: StuckReceiver
) -> None:
    settings = NotifySettings(timeout_s=3, per_target=1, backoff_s=1)
    running = Running(Dispatcher(engine, settings=settings))
    try:
        with engine.begin() as conn:
            Outbox().enqueue(conn, [red("drip-1", slow_receiver.url), red("hang-1", hanging_receiver.url)],
                             datetime.now(UTC))  # fmt: skip
        slow_receiver.wait_for(1)
        hanging_receiver.wait_for(1)
        # Both bad targets are now busy; a second message for the slow one and a RED for a healthy receiver.
        queued = datetime.now(UTC)
        with engine.begin() as conn:
            Outbox().enqueue(
                conn, [red("drip-2", slow_receiver.url), red("healthy", http_receiver.url)], queued
            )
        (body,) = http_receiver.wait_for(1, timeout=2)  # the healthy RED arrives within 2 s
        assert body["title"] == "[RED] healthy"
        # The slow target's only slot is held: its second message never started, so it is neither an
        # attempt nor "outcome unknown"; its first one is, once its 3 s deadline has passed.
        wait_until(lambda: receipt(engine, "drip-1")[0] == "failed", 10, "the slow send abandoned")
        _, attempts, error = receipt(engine, "drip-1")
        assert attempts == 1 and error is not None and "outcome unknown" in error
        assert receipt(engine, "drip-2") == ("pending", 0, None)
        assert len(slow_receiver.requests) == 1  # the abandoned thread still holds the slot
        # The hanging one is retried (its thread ended when apprise gave up), carrying the same reference.
        hanging_receiver.wait_for(2, timeout=20)
        refs = {h.get("X-Facwatch-Ref") for h in hanging_receiver.requests}
        assert refs == {ref_of("hang-1")}
        assert receipt(engine, "healthy")[:2] == ("sent", 1)
        assert len(http_receiver.received) == 1  # the healthy receiver got its message once
    finally:
        running.close()


def test_a_stopping_dispatcher_starts_nothing_and_counts_nothing(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    with engine.begin() as conn:
        Outbox().enqueue(conn, [red("late", http_receiver.url)], NOW)
    stopping = Dispatcher(engine)
    stopping.close()
    assert stopping.deliver_pending(NOW) == 0
    assert receipt(engine, "late") == ("pending", 0, None)  # not an attempt, not "outcome unknown"
    assert Dispatcher(engine).deliver_pending(NOW, wait_s=10) == 1  # the next process sends it, once
    assert [b["title"] for b in http_receiver.wait_for(1)] == ["[RED] late"]
