"""State that survives a restart: a checkpoint in the state database, then a replay of the telemetry store.

What is kept: the rules' state of every asset (fused latest values, every detector with its decision,
the active sets; the trend's hourly buckets included), the last speed of every moving elevator
(``Motion``, for possible entrapments in an outage) and the alert writer's replay tracker. It is taken
while no batch is judged (``AlertService.under_lock``), so it matches what the state database holds,
every ``EVERY_S`` seconds and on a clean stop, and written as one row of ``detector_checkpoints`` per
site: ``MAGIC``, a version number, then the zlib-compressed pickle, at most ``MAX_BYTES`` (a bigger one is
logged and not written: the previous one stays). The blob is written and read only by facwatch itself,
in its own state database.

A checkpoint is written only when everything judged before it is committed: while the site's findings queue
holds a judgement (``uncommitted``, the intake's count of batches being judged or queued, read under the same
lock), the checkpoint is skipped (logged at debug, counted in ``facwatch_checkpoint_skipped_total``) and the
previous one stays. Otherwise a checkpoint could hold detector state that consumed readings whose findings
then never reach the state database (the commit refused after a lease is lost, the queue dropped): the next
owner's replay starts after the checkpoint and would never judge them again. Each row also stores the lease
epoch it was written under (``Checkpointer.epoch``, None without leases): a findings queue a killed worker left
is dropped at its next start when the newest checkpoint is of a later epoch (``stored_epoch``,
``alerts/engine/intake.py``, ``superseded``).

On start (``restore``):
1. the checkpoint is read; one that cannot be read (another version, corrupt, too big, another site) is
   logged and ignored, never a crash. An asset's state is taken only if its profile and rated values are
   what its detectors were built from (``Rules.fingerprint``); the others start fresh.
2. Firing alerts are judged again: one whose condition the restored rules do not hold active (the
   checkpoint predates it, or there is none) is carried (``Rules.assume_active``), so the first reading
   that shows the condition over clears it, and the alert resolves after its hold.
3. The telemetry store's history after each asset's checkpointed time (at most ``REPLAY_MAX_S`` back) is
   judged again: readings stored but not judged before a crash are judged now (their alerts open at the
   onset's event time); what was already judged is ignored per channel by the rules. A finding reaches
   the engine unless the engine already knows it: an onset no newer than the last alert of its asset and
   kind is not news (it was judged before the crash and may have resolved since), so an incident is
   never recorded twice. Without a checkpoint the same replay warms the detectors from fresh.
4. A new checkpoint is written at once, so the next start does not replay the same history again (skipped,
   like any other, while what an earlier run left queued is not committed yet).
"""

from __future__ import annotations

import pickle
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog
from prometheus_client import Counter
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
)

from alerts.detection.rules import AssetState
from alerts.engine.db import alerts, last_alert_times, utc_now
from alerts.engine.service import AlertService
from facwatch.model import (
    AlertState,
    Finding,
    Reading,
    TelemetryQuery,
    TelemetryReader,
    ms_from_utc,
    utc_from_ms,
)

log = structlog.get_logger("facwatch.checkpoint")

VERSION = 1
"""Bump when anything pickled here changes shape: an older checkpoint is then ignored, not misread."""
MAGIC = b"FWCP"
MAX_BYTES = 64 * 1024 * 1024
EVERY_S = 10.0
REPLAY_MAX_S = 900.0
REPLAY_CHUNK_MS = 10_000

SKIPPED = Counter(
    "facwatch_checkpoint_skipped_total",
    "Checkpoints not written because judged findings were not committed yet",
    ["site"],
)

metadata = MetaData()
checkpoints = Table(
    "detector_checkpoints",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("written_at", DateTime(timezone=True), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("epoch", BigInteger, nullable=True),
)
"""Created by facwatch/migrations/versions/0007_checkpoints.py; ``epoch`` (the lease epoch it was written under,
NULL without leases) by 0017_checkpoint_epoch.py."""


class CheckpointUnreadable(ValueError):
    """A checkpoint of another version, another site, corrupt or too big."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    site: str
    written_at_ms: int
    assets: Mapping[str, tuple[str, AssetState]]
    """Per asset: the fingerprint of what its detectors were built from, and its state."""
    moving: Mapping[str, tuple[int, float]]
    streams: Mapping[str, tuple[datetime, int]]


@dataclass(frozen=True, slots=True)
class Restored:
    """What ``restore`` did, for the log and the tests."""

    checkpoint_ms: int | None
    assets: tuple[str, ...]
    carried: tuple[str, ...]
    """``asset/kind`` of firing alerts the restored rules did not hold active."""
    replayed: int
    problem: str | None = None


def encode(snapshot: Snapshot) -> bytes:
    return _frame(pickle.dumps(snapshot, protocol=5))


def _frame(pickled: bytes) -> bytes:
    return MAGIC + VERSION.to_bytes(2, "big") + zlib.compress(pickled, 1)


def decode(blob: bytes, site: str) -> Snapshot:
    if len(blob) > MAX_BYTES:
        raise CheckpointUnreadable(f"{len(blob)} bytes, over the {MAX_BYTES} limit")
    if blob[:4] != MAGIC:
        raise CheckpointUnreadable("not a facwatch checkpoint")
    version = int.from_bytes(blob[4:6], "big")
    if version != VERSION:
        raise CheckpointUnreadable(f"version {version}, this facwatch reads version {VERSION}")
    try:
        snapshot = pickle.loads(zlib.decompress(blob[6:]))
    except Exception as exc:  # corrupt data can fail in any way: it is ignored, not fatal
        raise CheckpointUnreadable(f"corrupt: {type(exc).__name__}: {exc}") from exc
    if not isinstance(snapshot, Snapshot):
        raise CheckpointUnreadable(f"holds a {type(snapshot).__name__}, not a snapshot")
    if snapshot.site != site:
        raise CheckpointUnreadable(f"is for site {snapshot.site!r}")
    return snapshot


class Checkpointer:
    """Writes the engine's in-memory state to the state database and brings it back on start."""

    def __init__(
        self,
        service: AlertService,
        reader: TelemetryReader | None,
        *,
        every_s: float = EVERY_S,
        replay_max_s: float = REPLAY_MAX_S,
        uncommitted: Callable[[], int] | None = None,
    ) -> None:
        self.service = service
        self.uncommitted = uncommitted
        """Judgements not committed yet (``Intake.uncommitted``): while any, no checkpoint is written."""
        self.reader = reader
        self.every_s = every_s
        self.replay_max_s = replay_max_s
        self.site = service.site
        self.epoch: int | None = None
        """The site's lease epoch this process holds (set on each start; None: no leases), stored with each
        checkpoint: a findings queue left by an earlier tenure drops what it supersedes (``stored_epoch``)."""
        self._last_write: datetime | None = None

    # --- writing ---------------------------------------------------------------------------------------

    def due(self, now: datetime) -> bool:
        return self._last_write is None or (now - self._last_write).total_seconds() >= self.every_s

    def write(self, now: datetime) -> int | None:
        """Take a consistent copy and store it; the size in bytes (0: too big, not written; None: skipped,
        something judged is not committed yet)."""
        now = utc_now(now)
        # Only the copy holds up detection (about 45 µs per asset); compressing happens outside.
        pickled = self.service.under_lock(lambda: self._copy(now))
        if pickled is None:
            SKIPPED.labels(self.site.id).inc()
            log.debug("checkpoint.skipped", site=self.site.id, reason="judged findings not committed yet")
            return None
        blob = _frame(pickled)
        self._last_write = now
        if len(blob) > MAX_BYTES:
            log.error("checkpoint.too_big", site=self.site.id, size=len(blob), limit=MAX_BYTES)
            return 0
        with self.service.begin() as conn:  # fenced: a former owner never overwrites the new one's
            conn.execute(delete(checkpoints).where(checkpoints.c.site == self.site.id))
            conn.execute(
                insert(checkpoints).values(
                    site=self.site.id, version=VERSION, written_at=now, data=blob, epoch=self.epoch
                )
            )
        return len(blob)

    def _copy(self, now: datetime) -> bytes | None:
        """The pickled snapshot, None while a judgement is not committed (called under the lock)."""
        if self.uncommitted is not None and self.uncommitted() > 0:
            return None
        return pickle.dumps(self._snapshot(now), protocol=5)

    def _snapshot(self, now: datetime) -> Snapshot:
        rules = self.service.rules
        states = rules.state()
        assets = {
            asset.id: (rules.fingerprint(asset), state)
            for asset in self.site.assets
            if (state := states.get(asset.id)) is not None
        }
        return Snapshot(
            site=self.site.id,
            written_at_ms=ms_from_utc(now),
            assets=assets,
            moving=self.service.motion.state(),
            streams=self.service.alerts.streams(),
        )

    # --- restoring -------------------------------------------------------------------------------------

    def read(self) -> Snapshot | None:
        """The stored snapshot; None when there is none. Raises ``CheckpointUnreadable``."""
        with self.service.engine.connect() as conn:
            row = conn.execute(select(checkpoints.c.data).where(checkpoints.c.site == self.site.id)).first()
        return None if row is None else decode(bytes(row.data), self.site.id)

    def stored_epoch(self) -> int | None:
        """The lease epoch the site's newest checkpoint was written under (None: none, or without leases)."""
        with self.service.engine.connect() as conn:
            epoch = conn.execute(
                select(checkpoints.c.epoch).where(checkpoints.c.site == self.site.id)
            ).scalar_one_or_none()
        return None if epoch is None else int(epoch)

    def restore(self, now: datetime) -> Restored:
        now = utc_now(now)
        problem = None
        try:
            snapshot = self.read()
        except CheckpointUnreadable as exc:
            problem = str(exc)
            log.warning("checkpoint.unreadable", site=self.site.id, reason=problem)
            snapshot = None
        taken: list[str] = []
        if snapshot is not None:
            taken = self.service.under_lock(lambda: self._apply(snapshot))
        carried = self.service.under_lock(self._carry_firing)
        replayed = self._replay(now)
        result = Restored(
            checkpoint_ms=None if snapshot is None else snapshot.written_at_ms,
            assets=tuple(taken),
            carried=tuple(carried),
            replayed=replayed,
            problem=problem,
        )
        log.info(
            "checkpoint.restored",
            site=self.site.id,
            checkpoint=None if snapshot is None else utc_from_ms(snapshot.written_at_ms).isoformat(),
            assets=len(taken),
            carried=list(carried),
            replayed=replayed,
        )
        self.write(now)  # what was restored and replayed need not be replayed again
        return result

    def _apply(self, snapshot: Snapshot) -> list[str]:
        taken = self.service.rules.restore(snapshot.assets)
        self.service.motion.restore(dict(snapshot.moving))
        self.service.alerts.restore_streams(dict(snapshot.streams))
        return taken

    def _carry_firing(self) -> list[str]:
        """Firing alerts whose condition the rules do not hold: carried until a reading judges them."""
        rules = self.service.rules
        with self.service.engine.connect() as conn:
            rows = conn.execute(
                select(alerts.c.asset, alerts.c.kind).where(
                    alerts.c.site == self.site.id,
                    alerts.c.state == AlertState.FIRING.value,
                    alerts.c.cleared_at.is_(None),
                )
            ).all()
        carried = []
        for asset_id, kind in rows:
            asset = self.site.asset(asset_id)
            if asset is None or kind not in rules.kinds(asset) or kind in rules.active_kinds(asset_id):
                continue
            rules.assume_active(asset, kind)
            carried.append(f"{asset_id}/{kind}")
        return carried

    def _replay(self, now: datetime) -> int:
        """Judge the store's history after each asset's checkpointed time (bounded); the readings fed."""
        if self.reader is None:
            return 0
        now_ms = ms_from_utc(now)
        floor = now_ms - int(self.replay_max_s * 1000)
        by_time: dict[int, list[Reading]] = defaultdict(list)
        for asset in self.site.assets:
            start = max(floor, self.service.rules.judged_ms(asset.id) + 1)
            try:
                channels = list(self.reader.latest(self.site.id, asset.id))
                for channel in channels:
                    recent = TelemetryQuery(self.site.id, asset.id, channel, start, now_ms + 1)
                    for p in self.reader.query(recent):
                        by_time[p.ts_ms // REPLAY_CHUNK_MS].append(
                            Reading(self.site.id, asset.id, channel, p.ts_ms, p.value)
                        )
            except Exception as exc:  # the store is an outside dependency: no replay, but a start
                log.warning("checkpoint.replay_failed", site=self.site.id, asset=asset.id, error=str(exc))
        fed = 0
        for chunk in sorted(by_time):
            readings = sorted(by_time[chunk], key=lambda r: r.ts_ms)
            fed += len(readings)
            self._judge_again(readings, now)
        return fed

    def _judge_again(self, readings: list[Reading], now: datetime) -> None:
        """Judge history: the rules learn from it, and what they find reaches the engine unless the engine
        already knows it (an onset no newer than the last alert of that asset and kind: judged before the
        restart, perhaps resolved since), or it is older than that alert (a clear from before the onset of a
        firing alert: the history before the incident, replayed after a checkpoint taken before it, must not
        resolve an incident that still goes on)."""
        now_ms = ms_from_utc(now)

        def judge() -> list[Finding]:
            self.service.motion.observe(readings, now_ms)
            return self.service.rules.observe(readings, now_ms)

        findings = self.service.under_lock(judge)
        news = []
        for finding in findings:
            opened_ms, known_ms = self._known_ms(finding.asset, finding.kind)
            if (finding.active and finding.ts_ms > known_ms) or (
                not finding.active and finding.ts_ms >= opened_ms
            ):
                news.append(finding)
        self.service.observe_findings(news, now=now)

    def _known_ms(self, asset: str, kind: str) -> tuple[int, int]:
        """The last alert of ``asset`` and ``kind``: when it opened, and the latest of its opening and
        clearing (-1, -1: none)."""
        with self.service.engine.connect() as conn:
            last = last_alert_times(conn, self.site.id, asset, kind)
        if last is None:
            return -1, -1
        opened, cleared = last
        return ms_from_utc(opened), max(ms_from_utc(t) for t in (opened, cleared) if t is not None)
