"""Findings judged just before a lease is lost are neither lost nor repeated (real PostgreSQL and InfluxDB).

In process: two workers' stacks (alert service fenced with their epoch, findings queue, checkpointer) on one
state database and one telemetry store, wired as ``facwatch/runtime.py`` wires a site. Worker A judges an
entrapment (its readings stored) while its commits are slow; a checkpoint is attempted meanwhile; A's lease
runs out and B takes the site over (restore from the checkpoint, replay of the store): the RED opens once,
by B, at the onset's event time. Then B resolves it and hands the site back to A: nothing opens again.
The same when A is SIGKILLed with the entrapment in its queue (never refused): B's checkpoint is of a later
lease epoch than A's entry, so A drops it when it wins the site back; and when A restarts alone, it opens.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select, text

from alerts.engine.checkpoint import Checkpointer, Restored, checkpoints
from alerts.engine.db import notifications
from alerts.engine.events import EventBus
from alerts.engine.intake import Intake, Judgement, Late
from alerts.engine.leases import LeaseStore, StaleOwner, fence
from alerts.engine.service import AlertService
from alerts.notify.outbox import OutboxNotifier
from facwatch.config import SlaSettings, load_site
from facwatch.model import AlertState, Reading, Site, ms_from_utc
from ingest.influx_store import InfluxStore
from tests.alerts.helpers import MOVING, STUCK
from tests.fixtures.influx import Influx
from tests.fixtures.postgres import fresh_database
from tests.fixtures.waiting import wait_until

SITE = "lakeside"
ELEVATOR = "b1-elev-1"
ENTRAPMENT = "elevator.entrapment"
HOLD_S = 4  # the entrapment's hold: the RED opens 4 s after the car stopped between floors


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    yield from fresh_database(postgres_url)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return load_site("demo", variables={"data_dir": str(tmp_path)})


@pytest.fixture
def store(site: Site, telemetry: Influx) -> Iterator[InfluxStore]:
    influx = InfluxStore(site, url=telemetry.url, database="facwatch")
    yield influx
    influx.close()


class SlowCommits:
    """The alert service as the intake's committer, with a gate: closed, a commit waits (a slow database)."""

    def __init__(self, service: AlertService) -> None:
        self.service = service
        self.open = threading.Event()
        self.open.set()
        self.waiting = threading.Event()

    def commit(self, judgement: Judgement, late: Late | None = None) -> None:
        if not self.open.is_set():
            self.waiting.set()
            self.open.wait(60)
        self.service.commit(judgement, late)


class Worker:
    """One worker's stack for the site, wired as ``SiteRuntime`` wires it: the fenced alert service, the
    findings queue in the worker's own file, the checkpointer that waits for the queue."""

    def __init__(self, name: str, engine: Engine, site: Site, store: InfluxStore, data: Path) -> None:
        self.name, self.store, self.path = name, store, data / name / "findings.db"
        self.epoch: int | None = None
        self.service = AlertService(
            engine, site, SlaSettings(), EventBus(), OutboxNotifier(site), fencing=self._fence
        )
        self.commits = SlowCommits(self.service)
        self.checkpoint = Checkpointer(self.service, store)
        self.intake: Intake | None = None

    def _fence(self, conn: Connection) -> None:
        if self.epoch is None:
            raise StaleOwner(SITE, 0, "this worker does not hold the site")
        fence(conn, SITE, self.name, self.epoch)

    def start(self, epoch: int, *, committing: bool = True) -> Restored:
        """The lease won: the queue the worker left, then the checkpoint and the store's replay. Not
        ``committing``: the state database hangs for this worker, whatever it judges stays queued."""
        self.epoch = epoch
        self.checkpoint.epoch = epoch
        self.intake = Intake(
            self.commits, self.path, site=SITE, epoch=epoch, checkpoint_epoch=self.checkpoint.stored_epoch
        )
        self.checkpoint.uncommitted = self.intake.uncommitted
        if committing:
            self.intake.start()
        return self.checkpoint.restore(datetime.now(UTC))

    def kill(self) -> None:
        """SIGKILL: nothing more is committed or checkpointed; the queue file keeps what waits in it."""
        intake, self.intake = self.intake, None
        assert intake is not None and intake.backlog() >= 1
        intake.stop()  # never started: it only closes the file, as the kernel does
        self.epoch = None

    def stop(self) -> None:
        """The lease lost: the queue committed (or dropped when refused), then the last checkpoint."""
        intake, self.intake = self.intake, None
        if intake is not None:
            intake.stop()
        with contextlib.suppress(StaleOwner):  # not ours any more: the new owner's checkpoint stays
            self.checkpoint.write(datetime.now(UTC))

    def receive(self, values: Mapping[str, float], start: datetime, count: int) -> None:
        """``count`` one-second frames from ``start``: stored, judged and queued (the gateway's order: what
        the broker is acknowledged for is stored and its findings queued)."""
        assert self.intake is not None
        for i in range(count):
            ts_ms = ms_from_utc(start + timedelta(seconds=i))
            readings = [Reading(SITE, ELEVATOR, ch, ts_ms, float(v)) for ch, v in values.items()]
            self.store.write(readings)
            with self.intake.judging() as judged:
                self.intake.put(self.service.judge(readings, judged=judged))


def entrapments(engine: Engine) -> list[tuple[int, str, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, state, opened_at FROM alerts WHERE asset = :a AND kind = :k ORDER BY id"),
            {"a": ELEVATOR, "k": ENTRAPMENT},
        ).all()
    return [(int(r.id), str(r.state), r.opened_at.astimezone(UTC)) for r in rows]


def told_of_alerts(engine: Engine) -> list[str]:
    """The outbox's rows telling someone of an alert (``T-000001:A-000001:<audience>:<who>``), not the
    SLA clocks' escalations."""
    with engine.connect() as conn:
        keys = conn.execute(select(notifications.c.key).order_by(notifications.c.id)).scalars().all()
    return [k for k in keys if k.split(":")[1].startswith("A-")]


def checkpoint_written_at(engine: Engine) -> datetime | None:
    with engine.connect() as conn:
        at = conn.execute(select(checkpoints.c.written_at)).scalar_one_or_none()
    return None if at is None else at.astimezone(UTC)


def expire(engine: Engine) -> None:
    """The owner paused past its lease: in the database the lease has run out."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE site_leases SET expires_at = clock_timestamp() - interval '1 ms'"))


def test_findings_judged_before_a_lease_is_lost_open_once_by_the_new_owner_and_never_again(
    engine: Engine, site: Site, store: InfluxStore, tmp_path: Path
) -> None:
    leases = LeaseStore(engine, lease_s=15)
    a, b = (Worker(name, engine, site, store, tmp_path) for name in ("a", "b"))
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
    onset = t0 + timedelta(seconds=10)
    try:
        epoch_a = leases.acquire(SITE, "a")
        assert epoch_a == 1
        a.start(epoch_a)
        a.receive(MOVING, t0, 10)  # the car runs normally
        assert a.intake is not None
        wait_until(lambda: a.intake is not None and a.intake.uncommitted() == 0, 20, "a committing")
        assert a.checkpoint.write(datetime.now(UTC))  # a checkpoint of the normal run
        before_stuck = checkpoint_written_at(engine)

        # Someone is trapped: a judges it and queues the RED, but its commits are slow ...
        a.commits.open.clear()
        a.receive(STUCK, onset, 10)
        wait_until(a.commits.waiting.is_set, 20, "a's commit of the entrapment under way")
        assert a.intake.uncommitted() >= 1
        # ... a checkpoint comes due meanwhile: it must not hold what the state database does not have.
        assert a.checkpoint.write(datetime.now(UTC)) is None
        assert checkpoint_written_at(engine) == before_stuck
        assert entrapments(engine) == []

        # a is paused past its lease; b takes the site over: its checkpoint and the store's replay.
        expire(engine)
        epoch_b = leases.acquire(SITE, "b")
        assert epoch_b == 2
        restored = b.start(epoch_b)
        assert restored.replayed >= 10 * len(STUCK)  # the entrapment's readings judged again
        (red,) = entrapments(engine)
        assert red[1] == AlertState.FIRING.value
        assert red[2] == onset + timedelta(seconds=HOLD_S)  # at the onset's event time, as if never moved
        opened_once = told_of_alerts(engine)
        assert opened_once  # the engineers are told, by b

        # a runs again: its commit is refused by the fence, its queue dropped, never committed later.
        a.commits.open.set()
        wait_until(lambda: a.intake is not None and a.intake.dropped >= 1, 20, "a's stale judgement dropped")
        assert a.intake.refused >= 1 and a.intake.backlog() == 0
        a.stop()  # its watchdog stops the site
        assert entrapments(engine) == [red]

        # b sees the car move again: the RED resolves; then b hands the site back to a.
        b.receive(MOVING, onset + timedelta(seconds=10), 10)
        b.service.tick(onset + timedelta(seconds=10 + 120))  # longer than any hold
        wait_until(
            lambda: [s for _, s, _ in entrapments(engine)] == [AlertState.RESOLVED.value],
            20,
            "b resolving the RED",
        )
        b.stop()
        assert leases.release(SITE, "b", epoch_b)
        epoch_a = leases.acquire(SITE, "a")
        assert epoch_a == 3
        a.start(epoch_a)  # the same queue file as before the lease was lost
        a.receive(MOVING, onset + timedelta(seconds=20), 2)
        wait_until(lambda: a.intake is not None and a.intake.committed >= 1, 20, "a committing again")
        assert a.intake.dropped == 0  # nothing stale was left to drop
        assert [(pk, s) for pk, s, _ in entrapments(engine)] == [(red[0], AlertState.RESOLVED.value)]
        assert told_of_alerts(engine) == opened_once  # nobody told of it twice
    finally:
        a.commits.open.set()
        a.stop()
        b.stop()


def resolve(worker: Worker, engine: Engine, onset: datetime) -> None:
    """The car moves again: the RED resolves (its hold past, the clocks ticked on)."""
    worker.receive(MOVING, onset + timedelta(seconds=10), 10)
    worker.service.tick(onset + timedelta(seconds=10 + 120))  # longer than any hold
    wait_until(
        lambda: [s for _, s, _ in entrapments(engine)] == [AlertState.RESOLVED.value], 20, "the RED resolving"
    )


def test_a_queue_left_by_a_killed_worker_is_not_committed_after_another_owner_judged_the_site(
    engine: Engine, site: Site, store: InfluxStore, tmp_path: Path
) -> None:
    """Issue 14: a judged their entrapment while its state database hung and was SIGKILLed; b took the site
    over, opened the RED from the store and resolved it; a wins the site back: its queue is older than b's
    checkpoint, so it is dropped, and nobody is told of the entrapment a second time."""
    leases = LeaseStore(engine, lease_s=15)
    a, b = (Worker(name, engine, site, store, tmp_path) for name in ("a", "b"))
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
    onset = t0 + timedelta(seconds=10)
    try:
        assert leases.acquire(SITE, "a") == 1
        a.start(1, committing=False)  # its checkpoint at start (epoch 1), then a hung state database
        a.receive(MOVING, t0, 10)
        a.receive(STUCK, onset, 10)
        a.kill()  # the entrapment waits in a's queue file, judged under epoch 1
        assert entrapments(engine) == []

        expire(engine)
        assert leases.acquire(SITE, "b") == 2
        b.start(2)  # a's checkpoint predates the entrapment: b's replay opens it
        (red,) = entrapments(engine)
        assert red[2] == onset + timedelta(seconds=HOLD_S)
        opened_once = told_of_alerts(engine)
        assert opened_once
        resolve(b, engine, onset)
        b.stop()
        assert leases.release(SITE, "b", 2)

        assert leases.acquire(SITE, "a") == 3
        a.start(3)  # the same queue file: the entrapment of epoch 1, b's checkpoint of epoch 2
        wait_until(lambda: a.intake is not None and a.intake.backlog() == 0, 20, "a's old queue dealt with")
        assert [(pk, s) for pk, s, _ in entrapments(engine)] == [(red[0], AlertState.RESOLVED.value)]
        assert told_of_alerts(engine) == opened_once  # nobody told of it twice
        assert a.intake is not None and a.intake.dropped >= 1 and a.intake.committed == 0
    finally:
        a.stop()
        b.stop()


def test_a_queue_left_by_a_killed_worker_is_committed_when_it_restarts_alone(
    engine: Engine, site: Site, store: InfluxStore, tmp_path: Path
) -> None:
    """Nobody held the site between a's kill and a's restart (the newest checkpoint is a's own): the
    entrapment a had queued opens, late, at its onset's event time, once."""
    leases = LeaseStore(engine, lease_s=15)
    a = Worker("a", engine, site, store, tmp_path)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
    onset = t0 + timedelta(seconds=10)
    try:
        assert leases.acquire(SITE, "a") == 1
        a.start(1, committing=False)
        a.receive(MOVING, t0, 10)
        a.receive(STUCK, onset, 10)
        a.kill()
        assert entrapments(engine) == []

        expire(engine)
        assert leases.acquire(SITE, "a") == 2
        a.start(2)
        wait_until(lambda: a.intake is not None and a.intake.backlog() == 0, 20, "a's queue committed")
        (red,) = entrapments(engine)
        assert red[1] == AlertState.FIRING.value
        assert red[2] == onset + timedelta(seconds=HOLD_S)
        told = told_of_alerts(engine)
        assert (
            told
            and len(told) == len(set(told))
            and {k.split(":")[1] for k in told} == {told[0].split(":")[1]}
        )
        assert a.intake is not None and a.intake.dropped == 0 and a.intake.committed >= 1
        # Its ticket's "opened late (facwatch restarted)" note comes when the queue's commit opens it, not the
        # store's replay running beside it (which is first is a race, as before: not asserted here).
    finally:
        a.stop()
