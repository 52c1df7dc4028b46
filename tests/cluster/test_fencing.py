"""Fencing on a real PostgreSQL: a write with a stale epoch is refused and nothing of it lands; the intake
drops the refused finding (the new owner judges it again); a worker SIGSTOP'd past its lease writes nothing
once it runs again."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from alerts.engine import eventlog
from alerts.engine.checkpoint import Checkpointer
from alerts.engine.events import EventBus
from alerts.engine.intake import Intake, Judgement
from alerts.engine.leases import LeaseStore, StaleOwner, fence
from alerts.engine.leases_keeper import LeaseKeeper
from alerts.engine.ports import ActionRequest, OwnerReport
from alerts.engine.service import AlertService
from alerts.notify.outbox import OutboxNotifier
from facwatch.config import SlaSettings, load_site
from facwatch.model import Finding, Level, Site, TicketAction, ms_from_utc
from tests.fixtures.postgres import fresh_database
from tests.fixtures.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
SITE = "lakeside"


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    yield from fresh_database(postgres_url)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return load_site("demo", variables={"data_dir": str(tmp_path)})


def entrapment(asset: str) -> Finding:
    now = datetime.now(UTC)
    return Finding(SITE, asset, "elevator.entrapment", ms_from_utc(now), True, Level.RED, f"{asset} trapped")


def alerts_of(engine: Engine, asset: str) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id FROM alerts WHERE asset = :a"), {"a": asset})
        return [int(r.id) for r in rows]


def expire(engine: Engine) -> None:
    """The owner paused past its lease: in the database the lease has run out."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE site_leases SET expires_at = clock_timestamp() - interval '1 ms'"))


def test_the_fence_refuses_another_epoch_another_owner_and_an_expired_lease(engine: Engine) -> None:
    store = LeaseStore(engine, lease_s=5)
    assert store.acquire(SITE, "a") == 1
    with engine.begin() as conn:
        fence(conn, SITE, "a", 1)  # ours: passes
    cases = [("b", 1, "taken over"), ("a", 2, "taken over"), ("a", 1, "expired"), ("a", 1, "no lease")]
    for owner, epoch, why in cases:
        if why == "expired":
            expire(engine)
        if why == "no lease":
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM site_leases"))
        with pytest.raises(StaleOwner, match=why), engine.begin() as conn:
            fence(conn, SITE, owner, epoch)


def test_a_refused_commit_drops_the_stale_finding_and_the_new_owner_opens_it_once(
    engine: Engine, site: Site, tmp_path: Path
) -> None:
    store = LeaseStore(engine, lease_s=5)
    held = {"a": store.acquire(SITE, "a")}

    def fencing_a(conn: Connection) -> None:
        epoch = held["a"]
        assert epoch is not None
        fence(conn, SITE, "a", epoch)

    service_a = AlertService(engine, site, SlaSettings(), EventBus(), OutboxNotifier(site), fencing=fencing_a)
    intake = Intake(service_a, tmp_path / "findings.db", site=SITE)
    intake.start()
    try:
        first = entrapment("b1-elev-1")
        intake.put(Judgement((first,), first.ts_ms, None))
        wait_until(lambda: intake.committed == 1, 20, "the owner's first alert committed")
        assert len(alerts_of(engine, "b1-elev-1")) == 1

        expire(engine)  # worker a paused past its lease; b takes the site over
        epoch_b = store.acquire(SITE, "b")
        assert epoch_b == 2
        second = entrapment("b1-elev-2")
        intake.put(Judgement((second,), second.ts_ms, None))
        wait_until(lambda: intake.refused >= 1, 20, "the stale commit refused")
        wait_until(lambda: intake.dropped == 1, 20, "the stale finding dropped")
        assert intake.backlog() == 0  # dropped, not set aside: never committed under another epoch
        assert alerts_of(engine, "b1-elev-2") == []  # nothing of it landed

        # The new owner gets the readings again (MQTT redelivery, replay) and opens the alert.
        service_b = AlertService(
            engine,
            site,
            SlaSettings(),
            EventBus(),
            OutboxNotifier(site),
            fencing=lambda conn: fence(conn, SITE, "b", 2),
        )
        service_b.observe_findings([second], datetime.now(UTC))
        (opened,) = alerts_of(engine, "b1-elev-2")

        # b hands the site back: a's intake (its lease gone for good) commits nothing more, even with a's
        # new epoch: what it judges is dropped, and nothing opens twice.
        assert store.release(SITE, "b", 2)
        held["a"] = store.acquire(SITE, "a")
        intake.put(Judgement((second,), second.ts_ms, None))
        wait_until(lambda: intake.dropped == 2, 20, "a's intake dropping what it judged after the refusal")
        assert intake.committed == 1 and intake.refused == 1
        assert alerts_of(engine, "b1-elev-2") == [opened]
    finally:
        intake.stop()


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line.strip())


class Writer:
    """The paused_writer subprocess and what it printed."""

    def __init__(self, url: str, lease_s: float) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cluster.paused_writer", url, SITE, str(lease_s)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=_lines, args=(self.proc.stdout, self.lines), daemon=True).start()

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return self.seen

    def count(self, word: str) -> int:
        return sum(1 for line in self.drain() if line.startswith(word))

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def test_a_worker_paused_past_its_lease_writes_nothing_after_it(engine: Engine, site: Site) -> None:
    lease_s = 3.0
    writer = Writer(str(engine.url.render_as_string(hide_password=False)), lease_s)
    successor: LeaseKeeper | None = None
    try:
        wait_until(lambda: writer.count("committed") >= 3, 60, "the paused-to-be writer committing")
        writer.proc.send_signal(signal.SIGSTOP)

        won: list[int] = []
        store = LeaseStore(engine, lease_s=lease_s)
        successor = LeaseKeeper(
            store, [SITE], on_won=lambda s, e: won.append(e), on_lost=lambda s: None, me="successor"
        )
        successor.start()
        wait_until(lambda: won, lease_s * 6, "the successor taking the site over")
        service = AlertService(
            engine, site, SlaSettings(), EventBus(), OutboxNotifier(site), fencing=successor.fencing(SITE)
        )
        mark = entrapment("b2-elev-1")
        service.observe_findings([mark], datetime.now(UTC))
        (marker,) = alerts_of(engine, "b2-elev-1")

        writer.proc.send_signal(signal.SIGCONT)
        wait_until(lambda: writer.count("refused") >= 3, 30, "the resumed writer being refused")
    finally:
        writer.proc.send_signal(signal.SIGCONT)
        writer.close()
        if successor is not None:
            successor.stop()
    printed = writer.drain()
    committed = {int(line.split()[1]) for line in printed if line.startswith("committed")}
    refused = [line for line in printed if line.startswith("refused")]
    assert all(f"taken over at epoch {won[0]}" in line for line in refused), refused[:3]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, kind FROM alerts WHERE kind LIKE 'test.write%'")).all()
    landed = {int(r.kind.removeprefix("test.write")) for r in rows}
    assert landed <= committed  # nothing landed that the writer did not see committed
    assert all(r.id < marker for r in rows)  # and nothing after the successor took the site
    first_refused = int(refused[0].split()[1])
    assert not [n for n in landed if n >= first_refused]
    assert max(committed) < first_refused  # once refused, never committed again


def test_a_writer_paused_inside_its_transaction_holds_no_takeover_up_and_lands_nothing(
    engine: Engine,
) -> None:
    assert LeaseStore(engine, lease_s=1).acquire(SITE, "a") == 1
    paused = engine.connect()
    transaction = paused.begin()
    fence(paused, SITE, "a", 1, lease_s=1)  # passes: the lease is a's
    eventlog.append(paused, "alert", SITE, {"zombie": True}, datetime.now(UTC))
    # ... and the writer stops here, its transaction open, holding the lease row FOR SHARE.
    successor = LeaseStore(engine, lease_s=5, wait_s=10)
    began = time.monotonic()
    epoch = successor.acquire(SITE, "b")  # waits for the row: the server ends the idle transaction
    waited = time.monotonic() - began
    assert epoch == 2 and waited < 5, (epoch, waited)
    with pytest.raises(DBAPIError):  # the writer resumes: its commit fails, nothing of it landed
        transaction.commit()
    paused.close()
    with engine.connect() as conn:
        zombies = conn.execute(text("SELECT count(*) FROM events WHERE body LIKE '%zombie%'")).scalar_one()
    assert zombies == 0


def test_every_write_of_the_engine_is_fenced_and_what_people_do_is_not(engine: Engine, site: Site) -> None:
    """The engine's writes (findings, the clocks, the checkpoint) are refused to a stale owner; what people do
    through an API (act, acknowledge, silence, report) lands whoever holds the site: any replica makes it."""
    store = LeaseStore(engine, lease_s=5)
    assert store.acquire(SITE, "a") == 1
    service = AlertService(
        engine,
        site,
        SlaSettings(),
        EventBus(),
        OutboxNotifier(site),
        fencing=lambda c: fence(c, SITE, "a", 1),
    )
    service.observe_findings([entrapment("b1-elev-1")], datetime.now(UTC))
    (alert,) = service.list_alerts().items
    assert alert.ticket_id is not None
    expire(engine)
    assert store.acquire(SITE, "b") == 2  # a is stale from here on
    now = datetime.now(UTC)
    engine_writes = [
        ("a finding", lambda: service.observe_findings([entrapment("b2-elev-1")], now)),
        ("the clocks", lambda: service.tick(now)),
        ("the checkpoint", lambda: Checkpointer(service, None).write(now)),
    ]
    refused = []
    for what, write in engine_writes:
        try:
            write()
        except StaleOwner:
            refused.append(what)
    assert refused == [what for what, _ in engine_writes]
    (unchanged,) = service.list_alerts().items
    assert unchanged == alert  # nothing the engine of a stale owner did landed
    assert len(service.list_tickets().items) == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM detector_checkpoints")).scalar_one() == 0
    # What people do lands: the ticket acknowledged, the alert silenced, an owner's report opened.
    service.act(alert.ticket_id or "", ActionRequest(TicketAction.ACKNOWLEDGE, "eng"), now)
    service.acknowledge_alert(alert.id, "eng", now)
    silenced = service.silence_alert(
        alert.id, until=now + timedelta(hours=1), reason="x", actor="eng", now=now
    )
    assert silenced.silenced_until is not None and silenced.acknowledged_at is not None
    service.open_owner_ticket(OwnerReport(SITE, "b1", "elevator", "stuck", "o1"), now)
    assert len(service.list_tickets().items) == 2
