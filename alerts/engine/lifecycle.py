"""What a ticket action does (pure: tables and ``decide``, ``now`` passed in).

Everything that decides a person's action on a ticket lives in this file; ``alerts.engine.tickets`` loads
the facts, calls ``decide`` and stores the change (the SLA clocks are ``alerts.engine.clocks``, the alert
condition machine ``alerts.engine.conditions``).

Tickets: ``open → acknowledged → dispatched → on_site → resolved → closed``, plus ``cancelled`` and
``reopened``. Every allowed (state, action) pair is in ``TRANSITIONS``; anything else raises
``IllegalTransition`` naming both and changes nothing. Acknowledging, dispatching and arriving are
facts with a time and a person (kept in the timeline), and they stop the SLA clocks in ``STOPS``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from alerts.engine.clocks import Clock
from alerts.engine.errors import CheckInRefused, IllegalTransition, StillFiring, TooManyCheckIns
from alerts.engine.maintenance_arrival import Seen, decide_arrival
from alerts.engine.ports import ActionRequest
from facwatch.model import TicketAction, TicketState

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
        raise CheckInRefused(
            "the code does not match the one posted at the asset"
        )  # the API says "check-in refused: "


STOPS: Mapping[TicketAction, frozenset[Clock]] = {
    A.ACKNOWLEDGE: frozenset({Clock.ACKNOWLEDGE}),
    A.DISPATCH: frozenset({Clock.ACKNOWLEDGE}),
    A.CHECK_IN: frozenset({Clock.ACKNOWLEDGE, Clock.ON_SITE}),
    A.RESOLVE: frozenset(Clock),
    A.CANCEL: frozenset(Clock),
    A.CLOSE: frozenset(Clock),
}
"""Which clocks an action stops: somebody has acted on what that clock measured."""

OVERRIDABLE = frozenset({A.RESOLVE, A.CLOSE, A.CANCEL})
"""A person cannot take these while the ticket's alert still fires (each ends the work and its clocks),
unless a manager overrides with a written reason."""
ACKNOWLEDGING = frozenset({A.ACKNOWLEDGE, A.DISPATCH, A.CHECK_IN})
"""Actions that acknowledge the ticket and its alerts (someone has taken it)."""
ENDING = frozenset({A.RESOLVE, A.CANCEL, A.CLOSE})
"""Actions that end the alerts no sensor clears (rectification tasks, predictions) with the ticket."""
FOLLOW_UP_S = 24 * 3600.0
"""The follow-up with the owners is due a day after resolution."""


class ActionReason(StrEnum):
    ACKNOWLEDGED = "acknowledged: someone has taken it"
    DISPATCHED = "dispatched: someone is on the way"
    CHECKED_IN = "on site: arrival proven with the code posted at the asset"
    PROGRESS = "progress recorded"
    PLAN_B = "plan B recorded"
    COMMENTED = "comment added"
    RESOLVED = "resolved by a person"
    RESOLVED_OVER_FIRING = "resolved while its alert still fires: a manager's override"
    CLOSED = "closed"
    CLOSED_OVER_FIRING = "closed while its alert still fires: a manager's override"
    REOPENED = "reopened"
    CANCELLED = "cancelled"
    CANCELLED_OVER_FIRING = "cancelled while its alert still fires: a manager's override"


REASONS: Mapping[TicketAction, ActionReason] = {
    A.ACKNOWLEDGE: ActionReason.ACKNOWLEDGED,
    A.DISPATCH: ActionReason.DISPATCHED,
    A.CHECK_IN: ActionReason.CHECKED_IN,
    A.PROGRESS: ActionReason.PROGRESS,
    A.PLAN_B: ActionReason.PLAN_B,
    A.COMMENT: ActionReason.COMMENTED,
    A.RESOLVE: ActionReason.RESOLVED,
    A.CLOSE: ActionReason.CLOSED,
    A.REOPEN: ActionReason.REOPENED,
    A.CANCEL: ActionReason.CANCELLED,
}


OVERRIDES: Mapping[TicketAction, ActionReason] = {
    A.RESOLVE: ActionReason.RESOLVED_OVER_FIRING,
    A.CLOSE: ActionReason.CLOSED_OVER_FIRING,
    A.CANCEL: ActionReason.CANCELLED_OVER_FIRING,
}


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What the state database says about the ticket when a person acts on it."""

    state: TicketState
    acknowledged: bool = False
    checkin_code: str = ""
    """The code posted at the ticket's asset ("" when none is posted)."""
    firing: tuple[str, ...] = ()
    """Its alerts whose condition still holds (``A-000012 elevator.entrapment``); alerts that no sensor
    clears (rectification tasks, predictions) are not among them: they end with the ticket."""
    wrong_codes: tuple[datetime, ...] = ()
    """When this actor gave wrong check-in codes lately, on any ticket (``CHECKIN_LOOKBACK_S`` back is
    enough)."""
    wrong_on_ticket: tuple[datetime, ...] = ()
    """When anyone gave wrong check-in codes on this ticket lately."""
    sign: Seen | None = None
    """The asset's newest sign of a person's hands on it (arrival evidence, ``maintenance_arrival``)."""
    companies: frozenset[str] = frozenset()
    """The site's maintenance companies: a dispatch to one of them makes it the ticket's party."""


@dataclass(frozen=True, slots=True)
class TicketChange:
    """What an action changes; the shell (``alerts.engine.tickets``) stores it."""

    state: TicketState
    values: Mapping[str, object]
    """The ticket's columns to set (state and updated_at included)."""
    stops: frozenset[Clock]
    note: str
    """The timeline entry's note."""
    detail: Mapping[str, object] = field(default_factory=dict)
    """What the notification of the action carries (percent, plan B, assignee, ETA)."""
    acknowledges: bool = False
    ends_manual_alerts: bool = False
    notify: bool = True


def decide(facts: TicketFacts, event: ActionRequest, now: datetime) -> tuple[TicketChange, ActionReason]:
    """What ``event`` does to a ticket with these facts at ``now``.

    Raises ``IllegalTransition`` (naming state and action), ``CheckInRefused`` or ``ValueError`` (a field
    that does not go with the action); a refused action changes nothing.
    """
    action = event.action
    state = next_state(facts.state, action)
    values: dict[str, object] = {"state": state.value, "updated_at": now}
    notes = [event.note] if event.note else []
    detail: dict[str, object] = {}
    reason = REASONS[action]
    if action is A.CHECK_IN:
        locked = max(
            (
                until
                for until in (
                    checkin_locked_until(facts.wrong_codes, now),
                    checkin_locked_until(facts.wrong_on_ticket, now, CHECKIN_MAX_WRONG_TICKET),
                )
                if until is not None
            ),
            default=None,
        )
        if locked is not None:
            raise TooManyCheckIns((locked - now).total_seconds())
        check_in(facts.checkin_code, event.checkin_code)
        values["on_site_at"] = now
        arrival, shown = decide_arrival(facts.sign, now)
        values["arrival"] = detail["arrival"] = arrival.value
        notes.append(shown)
    override = (event.override_reason or "").strip()
    if event.override_reason is not None and action not in OVERRIDABLE:
        raise ValueError("override_reason goes with resolve, close or cancel")
    if action in OVERRIDABLE and facts.firing:
        if not override:
            raise StillFiring(action.value, facts.firing)
        detail["override_reason"] = override
        notes.append(f"manager's override: {override} (still firing: {', '.join(facts.firing)})")
        reason = OVERRIDES[action]
    if event.percent is not None:
        if action is not A.PROGRESS:
            raise ValueError("percent goes with the progress action")
        if not 0 <= event.percent <= 100:
            raise ValueError("percent must be between 0 and 100")
        values["progress_percent"] = detail["percent"] = event.percent
        notes.append(f"{event.percent:g} % done")
    if action is A.PLAN_B:
        plan = (event.plan_b or "").strip()
        if not plan:
            raise ValueError("plan_b needs the plan: what is done for the owners meanwhile")
        detail["plan_b"] = plan
        notes.append(f"plan B: {plan}")
    if action is A.DISPATCH:
        values["assignee"] = detail["assignee"] = event.assignee or event.actor
        notes.append(f"assigned to {values['assignee']}")
        if event.assignee in facts.companies:
            values["company"] = detail["company"] = event.assignee
            notes.append("the maintenance company's on-call contacts are told")
    if event.eta is not None:
        if action not in (A.DISPATCH, A.PROGRESS, A.PLAN_B):
            raise ValueError("an ETA goes with dispatch, progress or plan_b")
        values["eta"] = detail["eta"] = event.eta
        notes.append(f"ETA {event.eta.isoformat()}")
    if action is A.RESOLVE:
        values.update(
            resolved_at=now, follow_up_due=now + timedelta(seconds=FOLLOW_UP_S), progress_percent=100.0
        )
    if action is A.CLOSE:
        values["closed_at"] = now
    if action is A.REOPEN:
        values.update(resolved_at=None, closed_at=None, follow_up_due=None)
    if action is A.CANCEL:
        values["follow_up_due"] = None
    acknowledging = action in ACKNOWLEDGING
    if acknowledging and not facts.acknowledged:
        values["acknowledged_at"] = now
    change = TicketChange(
        state=state,
        values=values,
        stops=STOPS.get(action, frozenset()),
        note="; ".join(notes),
        detail=detail,
        acknowledges=acknowledging,
        ends_manual_alerts=action in ENDING,
        notify=action is not A.COMMENT,
    )
    return change, reason


# --- what the clock's tick does to resolved tickets --------------------------------------------------


class QuietReason(StrEnum):
    CLOSE = "closed: normal for the close hold"
    FIRING = "kept resolved: an alert of the ticket still fires or holds"
    WAIT = "kept resolved: not normal for the close hold yet"
    FOLLOW_UP = "follow-up due: every alert of the ticket has held clear"
    FOLLOW_UP_WAITS = "follow-up waits: an alert of the ticket still fires or holds"
    NOT_DUE = "follow-up not due yet"


@dataclass(frozen=True, slots=True)
class QuietFacts:
    """A resolved (or closed) ticket as the tick sees it."""

    resolved_at: datetime | None
    firing: int = 0
    """Its alerts in state firing (normal again but within their hold included)."""
    normal_since: tuple[datetime | None, ...] = ()
    """Per alert of the ticket: when it went normal (cleared or resolved)."""
    close_hold_s: float = 3600.0
    follow_up_due: datetime | None = None


def decide_close(facts: QuietFacts, now: datetime) -> tuple[bool, QuietReason]:
    """Whether the tick closes a resolved ticket: nothing of it fires and all was normal for the hold."""
    if facts.firing:
        return False, QuietReason.FIRING
    known = [t for t in (facts.resolved_at, *facts.normal_since) if t is not None]
    if known and now - max(known) < timedelta(seconds=facts.close_hold_s):
        return False, QuietReason.WAIT
    return True, QuietReason.CLOSE


def decide_follow_up(facts: QuietFacts, now: datetime) -> tuple[bool, QuietReason]:
    """Whether the owners are asked now: the day after resolution, once every alert has held clear."""
    if facts.follow_up_due is None or facts.follow_up_due > now:
        return False, QuietReason.NOT_DUE
    if facts.firing:
        return False, QuietReason.FOLLOW_UP_WAITS
    return True, QuietReason.FOLLOW_UP


# --- check-in: a proof of arrival that cannot be guessed ----------------------------------------------

CHECKIN_MAX_WRONG = 5
"""This many wrong codes by one token within ``CHECKIN_WINDOW_S`` ..."""
CHECKIN_MAX_WRONG_TICKET = 20
"""... or this many on one ticket, from any tokens, ..."""
CHECKIN_WINDOW_S = 600.0
CHECKIN_LOCK_S = 600.0
"""... and check-ins wait this long after the last of them: that token's on every ticket, or everyone's on
that ticket. Per token first: one engineer's typos (or a stolen token's guesses) never lock out the engineer
standing at the trapped car, whose on-site clock is running; the per-ticket bound only stops many tokens
guessing together. A code has 8+ random characters, so neither bound leaves guessing a chance."""
CHECKIN_LOOKBACK_S = CHECKIN_WINDOW_S + CHECKIN_LOCK_S
"""How far back the shell must load wrong codes for ``checkin_locked_until`` to see every lock."""


def checkin_locked_until(
    wrong_codes: Sequence[datetime], now: datetime, most: int = CHECKIN_MAX_WRONG
) -> datetime | None:
    """Until when check-ins wait, or None: ``most`` wrong codes within ``CHECKIN_WINDOW_S`` lock check-ins
    for ``CHECKIN_LOCK_S`` after the last of them. Attempts refused while locked are not wrong codes (nobody
    looked at them), so they do not extend the lock."""
    times = sorted(t for t in wrong_codes if t <= now)
    window, lock = timedelta(seconds=CHECKIN_WINDOW_S), timedelta(seconds=CHECKIN_LOCK_S)
    until: datetime | None = None
    for i in range(most - 1, len(times)):
        if times[i] - times[i - most + 1] <= window and times[i] + lock > now:
            until = times[i] + lock if until is None else max(until, times[i] + lock)
    return until
