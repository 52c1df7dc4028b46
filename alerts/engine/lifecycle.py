"""The alert and ticket lifecycles and the SLA clocks (pure: tables and functions, ``now`` passed in).

Tickets: ``open → acknowledged → dispatched → on_site → resolved → closed``, plus ``cancelled`` and
``reopened``. Every allowed (state, action) pair is in ``TRANSITIONS``; anything else raises
``IllegalTransition`` naming both and changes nothing. Acknowledging, dispatching and arriving are
facts with a time and a person (kept in the timeline), and they stop the SLA clocks in ``STOPS``.

Alerts: one per (asset, finding kind). ``ALERT_STEPS`` says what a finding does to the alert of its
(asset, kind): open one, count a repeat, start the resolve hold, or nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from alerts.engine.errors import CheckInRefused, IllegalTransition
from facwatch.config import SlaSettings
from facwatch.model import AlertState, Deadlines, Level, TicketAction, TicketState

S, A = TicketState, TicketAction

_WORKING = (A.COMMENT, A.CANCEL, A.RESOLVE)
TRANSITIONS: Mapping[tuple[TicketState, TicketAction], TicketState] = {
    (S.OPEN, A.ACKNOWLEDGE): S.ACKNOWLEDGED,
    (S.OPEN, A.DISPATCH): S.DISPATCHED,
    (S.OPEN, A.CHECK_IN): S.ON_SITE,
    (S.OPEN, A.COMMENT): S.OPEN,
    (S.OPEN, A.RESOLVE): S.RESOLVED,
    (S.OPEN, A.CANCEL): S.CANCELLED,
    (S.REOPENED, A.ACKNOWLEDGE): S.ACKNOWLEDGED,
    (S.REOPENED, A.DISPATCH): S.DISPATCHED,
    (S.REOPENED, A.CHECK_IN): S.ON_SITE,
    (S.REOPENED, A.COMMENT): S.REOPENED,
    (S.REOPENED, A.RESOLVE): S.RESOLVED,
    (S.REOPENED, A.CANCEL): S.CANCELLED,
    (S.ACKNOWLEDGED, A.DISPATCH): S.DISPATCHED,
    (S.ACKNOWLEDGED, A.CHECK_IN): S.ON_SITE,
    (S.ACKNOWLEDGED, A.COMMENT): S.ACKNOWLEDGED,
    (S.ACKNOWLEDGED, A.RESOLVE): S.RESOLVED,
    (S.ACKNOWLEDGED, A.CANCEL): S.CANCELLED,
    (S.DISPATCHED, A.DISPATCH): S.DISPATCHED,  # re-assign
    (S.DISPATCHED, A.PROGRESS): S.DISPATCHED,
    (S.DISPATCHED, A.CHECK_IN): S.ON_SITE,
    (S.DISPATCHED, A.COMMENT): S.DISPATCHED,
    (S.DISPATCHED, A.RESOLVE): S.RESOLVED,
    (S.DISPATCHED, A.CANCEL): S.CANCELLED,
    (S.ON_SITE, A.PROGRESS): S.ON_SITE,
    (S.ON_SITE, A.PLAN_B): S.ON_SITE,
    (S.ON_SITE, A.COMMENT): S.ON_SITE,
    (S.ON_SITE, A.RESOLVE): S.RESOLVED,
    (S.RESOLVED, A.CLOSE): S.CLOSED,
    (S.RESOLVED, A.REOPEN): S.REOPENED,
    (S.RESOLVED, A.COMMENT): S.RESOLVED,
    (S.CLOSED, A.REOPEN): S.REOPENED,
    (S.CLOSED, A.COMMENT): S.CLOSED,
    (S.CANCELLED, A.COMMENT): S.CANCELLED,
}

ACTIVE_TICKET_STATES = frozenset({S.OPEN, S.REOPENED, S.ACKNOWLEDGED, S.DISPATCHED, S.ON_SITE})
"""A new alert on the asset joins a ticket in one of these states."""


def next_state(state: TicketState, action: TicketAction) -> TicketState:
    """The state after ``action``; raises IllegalTransition (naming both) when the table forbids it."""
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise IllegalTransition(state.value, action.value) from None


def check_in(asset_code: str, given: str | None) -> None:
    """Arrival must be proven with the code posted at the asset (no code posted: nothing to prove)."""
    if asset_code and given != asset_code:
        raise CheckInRefused("check-in refused: the code does not match the one posted at the asset")


# --- SLA clocks --------------------------------------------------------------------------------------


class Clock(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ON_SITE = "on_site"
    FIXED = "fixed"


class EscalationReason(StrEnum):
    ACKNOWLEDGE = "escalated: acknowledge clock ran out"
    ON_SITE = "escalated: on-site clock ran out"
    FIXED = "escalated: fix clock ran out"


REASONS: Mapping[Clock, EscalationReason] = {
    Clock.ACKNOWLEDGE: EscalationReason.ACKNOWLEDGE,
    Clock.ON_SITE: EscalationReason.ON_SITE,
    Clock.FIXED: EscalationReason.FIXED,
}

STOPS: Mapping[TicketAction, frozenset[Clock]] = {
    A.ACKNOWLEDGE: frozenset({Clock.ACKNOWLEDGE}),
    A.DISPATCH: frozenset({Clock.ACKNOWLEDGE}),
    A.CHECK_IN: frozenset({Clock.ACKNOWLEDGE, Clock.ON_SITE}),
    A.RESOLVE: frozenset(Clock),
    A.CANCEL: frozenset(Clock),
    A.CLOSE: frozenset(Clock),
}
"""Which clocks an action stops: somebody has acted on what that clock measured."""


def deadlines(level: Level, opened_at: datetime, sla: SlaSettings) -> Deadlines:
    """Deadlines per level, measured from the alert's opened_at (the finding's event time)."""

    def due(clock: Clock) -> datetime | None:
        seconds: float | None = getattr(sla, f"{level.value}_{clock.value}_s")
        return None if seconds is None else opened_at + timedelta(seconds=seconds)

    return Deadlines(acknowledge=due(Clock.ACKNOWLEDGE), on_site=due(Clock.ON_SITE), fixed=due(Clock.FIXED))


@dataclass(frozen=True, slots=True)
class ClockState:
    clock: Clock
    due_at: datetime
    next_fire_at: datetime
    fired: int = 0
    stopped_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Firing:
    clock: Clock
    reason: EscalationReason
    index: int
    """How many times this clock has fired before (0 for the first): part of the notification key."""
    next_fire_at: datetime


def due_firings(clocks: list[ClockState], now: datetime, repeat_s: float) -> list[Firing]:
    """Clocks of one ticket that run out at ``now``; each fires at most once per call.

    The next firing is one repeat interval later; after a long pause (a restart) the clock fires once
    and waits a full interval, instead of firing every missed interval at once.
    """
    out: list[Firing] = []
    step = timedelta(seconds=repeat_s)
    for state in clocks:
        if state.stopped_at is not None or state.next_fire_at > now:
            continue
        following = state.next_fire_at + step
        if following <= now:
            following = now + step
        out.append(Firing(state.clock, REASONS[state.clock], state.fired, following))
    return out


def escalation_target(step: int, chain_length: int) -> int:
    """The chain index that the ``step``-th escalation reaches: up the chain, then stay at its top."""
    return min(step, max(chain_length - 1, 0))


# --- alerts ------------------------------------------------------------------------------------------


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


def alert_step(firing: AlertState | None, active: bool) -> AlertStep:
    return ALERT_STEPS[(firing, active)]


def resolve_due(cleared_at: datetime | None, now: datetime, hold_s: float) -> bool:
    """A cleared alert resolves once the sensors have been normal for the hold period."""
    return cleared_at is not None and now - cleared_at >= timedelta(seconds=hold_s)
