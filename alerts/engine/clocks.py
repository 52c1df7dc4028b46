"""The SLA clocks (pure: ``now`` passed in): deadlines per level, which clock runs out when, and who hears.

Acknowledging, dispatching and arriving stop clocks (which ones: ``alerts.engine.lifecycle.STOPS``); a clock
that runs out escalates one step up the chain, again every ``escalation_repeat_s`` until someone acts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from facwatch.config import SlaSettings
from facwatch.model import Deadlines, Level


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
