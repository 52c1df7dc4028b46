"""The alert condition machine (pure: tables and ``decide`` functions, ``now`` passed in).

Everything that decides what happens to an alert lives here; ``alerts.engine.alerting`` loads the facts
from the state database, calls these, and stores the change.

One alert per (asset, finding kind). Its condition moves through:

- **pending**: a finding that must hold for its kind's pending period, or that arrives late (a device
  replaying what it buffered), waits before anyone is told (``decide_finding`` → ``WAIT``);
- **firing**: the alert is open (``OPEN``); a repeat counts on it (``REPEAT``);
- **holding**: normal again (``CLEAR``): it resolves once normal for its hold (``decide_hold``);
- **flapping**: it cleared and fired again too often within the flap window: held open for a whole window;
- **suppressed**: a building's power failure explains it (``decide_suppression``); a RED never is;
- **late**: it started and ended while the data was being replayed: recorded, resolved, nobody told.

Each decision returns a reason, an enum whose value is readable text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from facwatch.model import AlertPolicy, AlertState, Level

# --- a finding arrives --------------------------------------------------------------------------------


class AlertStep(StrEnum):
    OPEN = "open"
    REPEAT = "repeat"
    CLEAR = "clear"
    IGNORE = "ignore"


ALERT_STEPS: Mapping[tuple[AlertState | None, bool], AlertStep] = {
    (None, True): AlertStep.OPEN,  # nothing firing for (asset, kind): open an alert
    (None, False): AlertStep.IGNORE,  # a clear with nothing open (e.g. after a restart)
    (AlertState.FIRING, True): AlertStep.REPEAT,  # fires again while open: count it, stop the hold
    (AlertState.FIRING, False): AlertStep.CLEAR,  # normal again: start the resolve hold
}
"""(the state of the finding's (asset, kind) alert, the finding is active) → the step."""


class FindingChange(StrEnum):
    OPEN = "open"
    WAIT = "wait"
    REPEAT = "repeat"
    CLEAR = "clear"
    END_PENDING = "end_pending"
    NOTHING = "nothing"


class FindingReason(StrEnum):
    OPENED = "opened: the condition holds"
    PENDING = "pending: the condition must hold for its pending period first"
    LATE = "pending: replayed data, whose own clear may still follow"
    REPEATED = "repeated: counted on the open alert, its hold stops"
    REDELIVERED = "ignored: a redelivery of what was already counted"
    CLEARED = "holding: normal again, the resolve hold starts"
    ALREADY_CLEAR = "ignored: already normal, the hold runs"
    NOTHING_OPEN = "cleared: ends a pending finding of its kind, if any"
    RECORDED = "ignored: an onset its last alert already recorded (a judgement committed again after a crash)"


@dataclass(frozen=True, slots=True)
class FindingFacts:
    """What the state database says about the finding's (asset, kind) when it arrives."""

    firing: bool
    cleared_at: datetime | None = None
    """When the firing alert went normal (its hold runs), or None."""
    updated_at: datetime | None = None
    """The firing alert's newest event time."""
    pending_s: float = 0.0
    """The kind's pending period (policy)."""
    lateness_s: float = 0.0
    """Older than this when it arrives, a finding is a replay."""
    recorded_until: datetime | None = None
    """With nothing firing: the newest event time the last alert of its (asset, kind) recorded (its opening or
    its clear), or None. An onset no newer than that is that incident again, not a new one."""


@dataclass(frozen=True, slots=True)
class FindingEvent:
    active: bool
    at: datetime
    """The finding's event time."""


def is_late(at: datetime, wall_now: datetime | None, lateness_s: float) -> bool:
    """Whether data of event time ``at`` arriving at ``wall_now`` is a replay (no wall clock: current)."""
    return wall_now is not None and wall_now - at > timedelta(seconds=lateness_s)


def decide_finding(
    facts: FindingFacts, event: FindingEvent, now: datetime | None
) -> tuple[FindingChange, FindingReason]:
    """What a finding does to the alert of its (asset, kind); ``now`` is the wall clock (None: current)."""
    step = ALERT_STEPS[(AlertState.FIRING if facts.firing else None, event.active)]
    if step is AlertStep.REPEAT:
        if facts.cleared_at is None and event.at <= (facts.updated_at or event.at):
            return FindingChange.NOTHING, FindingReason.REDELIVERED
        return FindingChange.REPEAT, FindingReason.REPEATED
    if step is AlertStep.CLEAR:
        if facts.cleared_at is not None:
            return FindingChange.NOTHING, FindingReason.ALREADY_CLEAR
        return FindingChange.CLEAR, FindingReason.CLEARED
    if step is AlertStep.OPEN:
        if facts.recorded_until is not None and event.at <= facts.recorded_until:
            return FindingChange.NOTHING, FindingReason.RECORDED
        if facts.pending_s > 0:
            return FindingChange.WAIT, FindingReason.PENDING
        if is_late(event.at, now, facts.lateness_s):
            return FindingChange.WAIT, FindingReason.LATE
        return FindingChange.OPEN, FindingReason.OPENED
    return FindingChange.END_PENDING, FindingReason.NOTHING_OPEN


def alert_step(firing: AlertState | None, active: bool) -> AlertStep:
    return ALERT_STEPS[(firing, active)]


# --- a pending finding -------------------------------------------------------------------------------


class PendingChange(StrEnum):
    WAIT = "wait"
    OPEN = "open"
    OPEN_CLEARED = "open_cleared"
    OPEN_LATE = "open_late"
    DROP = "drop"


class PendingReason(StrEnum):
    REPLAYING = "pending: its asset is replaying old data, whose own clear may still follow"
    NOT_YET = "pending: not held for its pending period yet"
    HELD = "opened: held for its pending period"
    HELD_THEN_CLEARED = "opened: held for its pending period, then normal again (the hold starts)"
    LATE = "late: started and ended before its data arrived; recorded, nobody told"
    NOISE = "ignored: normal again before its pending period was over"


@dataclass(frozen=True, slots=True)
class PendingFacts:
    since: datetime
    """When the finding started (its event time)."""
    pending_s: float = 0.0
    replaying: bool = False
    """Its asset's data arrives now but is old (a device replaying what it buffered)."""
    lateness_s: float = 0.0

    @property
    def opens_at(self) -> datetime:
        """When the alert opens, if it does: once the condition has held for the pending period."""
        return self.since + timedelta(seconds=self.pending_s)


@dataclass(frozen=True, slots=True)
class PendingEvent:
    at: datetime
    """The event time: of the batch or the clock's tick (a look), or of the finding's clear."""
    cleared: bool = False


def decide_pending(
    facts: PendingFacts, event: PendingEvent, now: datetime | None
) -> tuple[PendingChange, PendingReason]:
    """What a pending finding does when the engine looks at ``event.at`` or its clear arrives; ``now`` is
    the wall clock (None: current)."""
    if event.cleared:
        if facts.opens_at > event.at:
            return PendingChange.DROP, PendingReason.NOISE
        if is_late(event.at, now, facts.lateness_s):
            return PendingChange.OPEN_LATE, PendingReason.LATE
        return PendingChange.OPEN_CLEARED, PendingReason.HELD_THEN_CLEARED
    if facts.replaying:
        return PendingChange.WAIT, PendingReason.REPLAYING
    if facts.opens_at > event.at:
        return PendingChange.WAIT, PendingReason.NOT_YET
    return PendingChange.OPEN, PendingReason.HELD


# --- a firing alert that is normal again --------------------------------------------------------------


class HoldReason(StrEnum):
    RESOLVE = "resolved: normal for the hold period"
    FLAPPING = "held open: flapping"
    WAIT = "waiting: not normal long enough"


def resolve_due(cleared_at: datetime | None, now: datetime, hold_s: float) -> bool:
    """A cleared alert resolves once the sensors have been normal for the hold period."""
    return cleared_at is not None and now - cleared_at >= timedelta(seconds=hold_s)


def decide_hold(
    cleared_at: datetime | None,
    now: datetime,
    hold_s: float,
    incidents_in_window: int,
    policy: AlertPolicy,
    already_flapping: bool,
) -> HoldReason:
    """What a cleared alert does at ``now``: resolve, keep waiting, or be held open as flapping.

    A flapping alert (``flap_cycles`` incidents of its kind on its asset within ``flap_window_s``) needs a
    whole flap window of normal operation to resolve, so that the next cycle repeats on it silently
    instead of opening (and telling people about) yet another alert.
    """
    if cleared_at is None:
        return HoldReason.WAIT
    flapping = already_flapping or incidents_in_window >= policy.flap_cycles
    hold = max(hold_s, policy.flap_window_s) if flapping else hold_s
    if now - cleared_at >= timedelta(seconds=hold):
        return HoldReason.RESOLVE
    if flapping and not already_flapping and now - cleared_at >= timedelta(seconds=hold_s):
        return HoldReason.FLAPPING
    return HoldReason.WAIT


# --- suppression: inhibition and silences ------------------------------------------------------------


class Suppression(StrEnum):
    NOTIFY = "notify"
    SUPPRESS = "suppress"


class SuppressionReason(StrEnum):
    NOTHING_EXPLAINS_IT = "notified: nothing suppresses it"
    INHIBITED = "suppressed: explained by the building's power failure"
    RED_NEVER_SUPPRESSED = "notified: a RED is never suppressed"


@dataclass(frozen=True, slots=True)
class SuppressionFacts:
    level: Level
    inhibitor: str | None
    """The firing power-failure alert of the building that would explain this one (``A-000003 power.outage``)."""


def decide_suppression(facts: SuppressionFacts, now: datetime) -> tuple[Suppression, SuppressionReason]:
    """Whether a new alert is suppressed by its building's power failure. A RED never is: safety first
    (the shell records the inhibitor on its ticket's timeline, and it is notified)."""
    del now  # a suppression depends on what fires, not on the time
    if facts.inhibitor is None:
        return Suppression.NOTIFY, SuppressionReason.NOTHING_EXPLAINS_IT
    if facts.level is Level.RED:
        return Suppression.NOTIFY, SuppressionReason.RED_NEVER_SUPPRESSED
    return Suppression.SUPPRESS, SuppressionReason.INHIBITED


class SilenceReason(StrEnum):
    NOT_SILENCED = "notified: not silenced"
    SILENCED = "not notified: silenced"
    RED_NEVER_SILENCED = "notified although silenced: a RED is never silenced"


def decide_silence(
    level: Level, silenced_until: datetime | None, now: datetime
) -> tuple[bool, SilenceReason]:
    """Whether an escalation of a ticket of ``level`` whose firing alerts are silenced until
    ``silenced_until`` (None: not every firing alert is) is notified. A RED always is."""
    if silenced_until is None or silenced_until <= now:
        return True, SilenceReason.NOT_SILENCED
    if level is Level.RED:
        return True, SilenceReason.RED_NEVER_SILENCED
    return False, SilenceReason.SILENCED
