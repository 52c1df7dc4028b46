"""The site's owner judges what an API replica kept, however long ago, and once (SQLite and PostgreSQL, the real
alert engine): messages are kept by a service that does not judge the site (an API replica), then judged by
the owner's ``catch_up`` at a later ``now``.

- A complaint kept ten minutes before the owner's first look is noted on the open RED's ticket (before: the
  first look went back 60 s only, and the complaint was never noted), and a restarted owner notes it no more.
- A backlog is judged a page at a time (or less, once a look's time is spent), in event-time order (the
  steward's alert opens at the event time of the fifth keyword, though the messages were kept newest first).
- Two owners at once (a handover) note a complaint once, and every message ends marked.
- A message older than ``keep_days`` is left alone (its text is gone).
- A stale owner (its lease taken over) judges, notes and marks nothing; the new owner notes the complaint."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select, text

from alerts.engine.chat import CATCH_UP_PAGE, ChatMessage, ChatService, FindingSink
from alerts.engine.chat_db import chat_messages
from alerts.engine.events import EventBus
from alerts.engine.leases import LeaseStore, StaleOwner, fence
from alerts.engine.ports import AlertQuery
from alerts.engine.service import AlertService
from alerts.notify.outbox import OutboxNotifier
from facwatch.config import SlaSettings
from facwatch.model import AlertState, Finding, Level, ms_from_utc, utc_from_ms
from tests.api.fakes import T0
from tests.chat.conftest import Desk, demo_site
from tests.chat.test_scripted_day import entrapment, opened
from tests.fixtures.postgres import fresh_database

TRAPPED = "1单元电梯困人了！快来人！！"


def replica(desk: Desk) -> ChatService:
    """An API replica of the site: it keeps messages and never judges them."""
    return ChatService.build(desk.engine, desk.site, desk.service, judges=lambda: False)


def owner(desk: Desk, lock: threading.Lock | None = None, sink: FindingSink | None = None) -> ChatService:
    """A (new) process that runs the site's alerts (``lock``: its own, as another process has)."""
    chat = ChatService.build(desk.engine, desk.site, desk.service)
    return ChatService(chat.engine, chat.site, chat.alerts, sink or chat.sink, chat.analyser, lock=lock)


class Times:
    """The engine, remembering the event time of each judgement it was handed."""

    def __init__(self, engine: FindingSink) -> None:
        self.engine, self.seen = engine, list[datetime]()

    def observe_findings(self, findings: Sequence[Finding], now: datetime | None = None) -> None:
        self.seen.append(utc_from_ms(max(f.ts_ms for f in findings)))
        self.engine.observe_findings(findings, now)


def keep(chat: ChatService, msg_id: str, text: str, at: datetime, group: str = "b1-owners") -> None:
    message = ChatMessage("lakeside", group, msg_id, "owner", text, ms_from_utc(at))
    kept = chat.receive(message, at)
    assert not kept.duplicate and kept.ticket_id is None  # kept, not judged


def notes(desk: Desk, ticket: str, words: str) -> int:
    answer = desk.http.get(f"/api/v1/tickets/{ticket}", headers=desk.headers)
    assert answer.status_code == 200, answer.text
    return sum(words in (entry.get("note") or "") for entry in answer.json()["timeline"])


def unjudged(desk: Desk) -> list[str]:
    m = chat_messages
    with desk.engine.connect() as conn:
        return list(conn.execute(select(m.c.msg_id).where(m.c.judged_at.is_(None))).scalars())


def test_a_complaint_kept_long_before_the_owners_first_look_is_noted_once(any_desk: Desk) -> None:
    desk = any_desk
    entrapment(desk, "b1-elev-1", T0)
    [red] = desk.alerts(state="firing")
    keep(replica(desk), "c1", TRAPPED, T0 + timedelta(minutes=1))  # no process ran the site's alerts
    assert notes(desk, red["ticket_id"], "1单元电梯困人了") == 0

    assert owner(desk).catch_up(T0 + timedelta(minutes=11)) == 1  # the owner comes ten minutes later
    assert notes(desk, red["ticket_id"], "1单元电梯困人了") == 1
    assert unjudged(desk) == []

    restarted = owner(desk)
    assert restarted.catch_up(T0 + timedelta(minutes=12)) == 0  # nothing judged twice
    assert notes(desk, red["ticket_id"], "1单元电梯困人了") == 1


def test_a_backlog_is_judged_a_page_at_a_time_in_event_time_order(any_desk: Desk) -> None:
    desk = any_desk
    kept_by = replica(desk)
    chatter = CATCH_UP_PAGE + 20
    keywords = [(60, "电梯又坏了，无语"), (61, "又停水了，投诉"), (62, "门禁天天坏，服了")]  # 2+2+2
    for n, (minute, words) in enumerate(reversed(keywords)):  # kept newest first
        keep(kept_by, f"k{n}", words, T0 + timedelta(minutes=minute))
    for n in range(chatter):  # chatter, before and after
        keep(kept_by, f"c{n:03d}", "今天天气不错", T0 + timedelta(minutes=40, seconds=n))
    assert opened(desk, "owners.complaints") == []

    times = Times(desk.service)
    chat = owner(desk, sink=times)
    now = T0 + timedelta(hours=3)
    assert chat.catch_up(now, budget_s=None) == CATCH_UP_PAGE  # one page a look
    assert chat.catch_up(now, budget_s=0) == 1  # the time spent: one message a look
    assert chat.catch_up(now, budget_s=None) == chatter + len(keywords) - CATCH_UP_PAGE - 1
    assert chat.catch_up(now) == 0
    assert times.seen == sorted(times.seen) and len(times.seen) == chatter + len(keywords)
    [steward] = [a for a in desk.alerts() if a["kind"] == "owners.complaints"]
    assert datetime.fromisoformat(steward["opened_at"]) == T0 + timedelta(minutes=62)  # the fifth keyword
    assert unjudged(desk) == []


def test_two_owners_at_once_note_a_complaint_once(any_desk: Desk) -> None:
    desk = any_desk
    entrapment(desk, "b1-elev-1", T0)
    [red] = desk.alerts(state="firing")
    kept_by = replica(desk)
    for n in range(20):
        keep(kept_by, f"t{n:02d}", f"{TRAPPED} ({n})", T0 + timedelta(seconds=30 + n))
    owners = [owner(desk, threading.Lock()), owner(desk, threading.Lock())]  # two processes
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def look(chat: ChatService) -> None:
        try:
            start.wait(10)
            chat.catch_up(T0 + timedelta(minutes=5), budget_s=None)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=look, args=(chat,)) for chat in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    for n in range(20):
        assert notes(desk, red["ticket_id"], f"({n})") == 1, n
    assert unjudged(desk) == []


def test_a_message_older_than_keep_days_is_left_alone(desk: Desk) -> None:
    keep(replica(desk), "old", "电梯又坏了，无语", T0)
    days = desk.site.chat.keep_days
    assert owner(desk).catch_up(T0 + timedelta(days=days, seconds=1)) == 0
    assert unjudged(desk) == ["old"]
    assert owner(desk).catch_up(T0 + timedelta(days=days)) == 1  # still within: judged


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Engine]:
    yield from fresh_database(postgres_url)


def test_a_stale_owner_judges_nothing_and_the_new_owner_notes_the_complaint_once(
    pg: Engine, tmp_path: Path
) -> None:  # before: a noted the complaint, then its findings were refused (and it looked back 60 s only)
    """A handover on PostgreSQL with the real fence: owner ``a`` lost the site (its lease ran out, ``b``
    holds it); ``a``'s catch-up is refused before it notes or marks anything, and ``b`` notes the complaint."""
    site, engine = demo_site(tmp_path), pg
    store = LeaseStore(engine, lease_s=5)
    epoch_a = store.acquire(site.id, "a")
    assert epoch_a is not None

    def service(owner: str, epoch: int) -> AlertService:
        def fencing(conn: Connection) -> None:
            fence(conn, site.id, owner, epoch)

        return AlertService(engine, site, SlaSettings(), EventBus(), OutboxNotifier(site), fencing=fencing)

    a = service("a", epoch_a)
    now = datetime.now(UTC)
    trapped = Finding(
        site.id, "b1-elev-1", "elevator.entrapment", ms_from_utc(now), True, Level.RED, "trapped"
    )
    a.observe_findings([trapped], now)
    [red] = a.list_alerts(AlertQuery(site=site.id, state=AlertState.FIRING)).items
    assert red.ticket_id is not None
    kept_by = ChatService.build(engine, site, a, judges=lambda: False)
    message = ChatMessage(site.id, "b1-owners", "c1", "owner", TRAPPED, ms_from_utc(now))
    assert kept_by.receive(message, now + timedelta(seconds=1)).ticket_id is None

    with engine.begin() as conn:  # a paused past its lease; b takes the site over
        conn.execute(text("UPDATE site_leases SET expires_at = clock_timestamp() - interval '1 ms'"))
    epoch_b = store.acquire(site.id, "b")
    assert epoch_b is not None
    b = service("b", epoch_b)

    later = now + timedelta(minutes=5)
    with pytest.raises(StaleOwner):
        ChatService.build(engine, site, a).catch_up(later)
    timeline = b.get_ticket(red.ticket_id).timeline
    assert not any("1单元电梯困人了" in e.note for e in timeline)  # a noted nothing
    with engine.connect() as conn:
        assert conn.execute(select(chat_messages.c.judged_at)).scalar_one() is None  # nor marked

    assert ChatService.build(engine, site, b).catch_up(later) == 1
    assert ChatService.build(engine, site, a).catch_up(later) == 0  # nothing left to judge
    timeline = b.get_ticket(red.ticket_id).timeline
    assert sum("1单元电梯困人了" in e.note for e in timeline) == 1
