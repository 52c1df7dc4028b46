"""The store-outage watch: writes to the telemetry store failing for ``outage_s`` raise a data-path finding.

    SpoolingSink / gateway ─► WatchedStore.write ─► store          (each attempt's outcome ─► the watch)

A spool hides a store outage from the gateway (the batches are durable, the broker gets its acks), so the
spool filling up used to be the only sign: hours later, at 80 % of a large spool. The watch says it within
``outage_s`` (default 30 s) of the first failed write: ``datapath.store_unreachable`` (ORANGE, on the
``datapath`` pseudo asset: staff only, never owners), cleared by the first write that succeeds.

``judge`` is the whole decision, pure; ``WatchedStore`` is the shell that feeds it each write's outcome.
The replay thread retries a failing store at least every few seconds, and ``StoreWatch.check`` lets a
timer judge silence too, so the finding opens on time even when no write is attempted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import structlog

from facwatch.clock import Clock, WallClock
from facwatch.model import DATAPATH_ASSET, Finding, Level, Reading, ReadingSink, ms_from_utc
from ingest.errors import StoreUnavailable

log = structlog.get_logger("facwatch.ingest.outage")

FINDING_KIND = "datapath.store_unreachable"


class Outcome(StrEnum):
    """What the watch was told, or ``TICK`` when only time passed."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TICK = "tick"


class Reason(StrEnum):
    OPENED = "writes have failed for longer than the outage limit"
    CLEARED = "a write succeeded again"
    FAILING = "writes fail, still within the outage limit"
    HEALTHY = "writes succeed"


@dataclass(frozen=True, slots=True)
class OutageFacts:
    failing_since_ms: int | None = None
    """The first failed write since the last success, None while writes succeed."""
    raised: bool = False
    error: str = ""
    """The last failure's message (for the finding's summary)."""


def judge(
    facts: OutageFacts,
    outcome: Outcome,
    now_ms: int,
    outage_ms: int,
    error: str = "",
    attempted_ms: int | None = None,
) -> tuple[OutageFacts, Reason, bool | None]:
    """Pure: the new facts, why, and the finding to emit (True: open, False: clear, None: nothing).

    ``attempted_ms``: when the failed write began; an outage counts from there, so writes that hang until
    their timeout do not delay the finding by that timeout.
    """
    if outcome is Outcome.SUCCEEDED:
        if facts.raised:
            return OutageFacts(), Reason.CLEARED, False
        return OutageFacts(), Reason.HEALTHY, None
    since = facts.failing_since_ms
    if outcome is Outcome.FAILED:
        since = (now_ms if attempted_ms is None else attempted_ms) if since is None else since
        facts = OutageFacts(since, facts.raised, error or facts.error)
    if since is None:
        return facts, Reason.HEALTHY, None
    if not facts.raised and now_ms - since >= outage_ms:
        return OutageFacts(since, True, facts.error), Reason.OPENED, True
    return facts, Reason.OPENED if facts.raised else Reason.FAILING, None


class StoreWatch:
    """Thread-safe holder of the facts; calls ``on_finding`` when the finding opens or clears."""

    def __init__(
        self,
        site: str,
        *,
        outage_s: float = 30.0,
        on_finding: Callable[[Finding], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._site = site
        self._outage_ms = int(outage_s * 1000)
        self._on_finding = on_finding
        self._clock: Clock = clock or WallClock()
        self._facts = OutageFacts()
        self._lock = threading.Lock()

    @property
    def failing_since_ms(self) -> int | None:
        return self._facts.failing_since_ms

    @property
    def raised(self) -> bool:
        return self._facts.raised

    @property
    def error(self) -> str:
        return self._facts.error

    def succeeded(self) -> None:
        if self._facts.failing_since_ms is None and not self._facts.raised:
            return  # the common case, once per batch: nothing to judge, no lock, no clock
        self._tell(Outcome.SUCCEEDED)

    def failed(self, error: str, attempted_ms: int | None = None) -> None:
        self._tell(Outcome.FAILED, error, attempted_ms)

    def now_ms(self) -> int:
        return ms_from_utc(self._clock.now())

    def check(self) -> None:
        """Judge the passing of time alone (a timer calls this)."""
        self._tell(Outcome.TICK)

    def _tell(self, outcome: Outcome, error: str = "", attempted_ms: int | None = None) -> None:
        now_ms = ms_from_utc(self._clock.now())
        with self._lock:
            before = self._facts
            self._facts, reason, emit = judge(before, outcome, now_ms, self._outage_ms, error, attempted_ms)
        if emit is None:
            return
        since = (
            before.failing_since_ms if before.failing_since_ms is not None else self._facts.failing_since_ms
        )
        finding = self._finding(emit, since, now_ms)
        log.warning("store.outage", active=emit, reason=reason.value, summary=finding.summary)
        if self._on_finding is not None:
            try:
                self._on_finding(finding)
            except Exception:
                log.exception("store.on_finding_failed")

    def _finding(self, active: bool, since_ms: int | None, now_ms: int) -> Finding:
        since_ms = now_ms if since_ms is None else since_ms
        down_s = (now_ms - since_ms) / 1000
        if active:
            summary = f"telemetry store unreachable for {down_s:.0f} s: {self._facts.error[:200]}"
        else:
            summary = f"telemetry store takes writes again (after {down_s:.0f} s)"
        return Finding(
            site=self._site,
            asset=DATAPATH_ASSET,
            kind=FINDING_KIND,
            ts_ms=now_ms,
            active=active,
            level=Level.ORANGE,
            summary=summary,
            value=down_s,
            detail={"down_s": down_s},
        )


class WatchedStore:
    """A ``ReadingSink`` that tells a ``StoreWatch`` how each write to ``store`` went."""

    def __init__(self, store: ReadingSink, watch: StoreWatch) -> None:
        self._store = store
        self.watch = watch

    def write(self, readings: Sequence[Reading]) -> None:
        attempted_ms = self.watch.now_ms()
        try:
            self._store.write(readings)
        except Exception as exc:  # StoreUnavailable, or a local store's own error (disk full): re-raised
            error = str(exc) if isinstance(exc, StoreUnavailable) else f"{type(exc).__name__}: {exc}"
            self.watch.failed(error, attempted_ms)
            raise
        self.watch.succeeded()
