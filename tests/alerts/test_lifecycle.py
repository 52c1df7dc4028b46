"""The ticket and alert lifecycles, their decisions and the SLA clocks, as tables: one row a case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine.clocks import (
    Clock,
    ClockState,
    EscalationReason,
    deadlines,
    due_firings,
    escalation_target,
)
from alerts.engine.conditions import (
    AlertStep,
    FindingChange,
    FindingEvent,
    FindingFacts,
    PendingChange,
    PendingEvent,
    PendingFacts,
    SilenceReason,
    Suppression,
    SuppressionFacts,
    SuppressionReason,
    alert_step,
    decide_finding,
    decide_pending,
    decide_silence,
    decide_suppression,
    resolve_due,
)
from alerts.engine.errors import CheckInRefused, IllegalTransition, StillFiring, TooManyCheckIns
from alerts.engine.lifecycle import (
    TRANSITIONS,
    ActionReason,
    QuietFacts,
    QuietReason,
    TicketFacts,
    check_in,
    checkin_locked_until,
    decide,
    decide_close,
    decide_follow_up,
    next_state,
)
from alerts.engine.ports import ActionRequest
from facwatch.config import SlaSettings
from facwatch.model import AlertState, Level, TicketAction, TicketState

S, A = TicketState, TicketAction
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "action", "expected"),
    [
        (S.OPEN, A.ACKNOWLEDGE, S.ACKNOWLEDGED),  # the engineer takes it
        (S.OPEN, A.DISPATCH, S.DISPATCHED),  # dispatching implies acknowledging
        (S.OPEN, A.CHECK_IN, S.ON_SITE),  # someone was already there
        (S.ACKNOWLEDGED, A.DISPATCH, S.DISPATCHED),  # the happy path, step 2
        (S.DISPATCHED, A.CHECK_IN, S.ON_SITE),  # the happy path, step 3
        (S.DISPATCHED, A.DISPATCH, S.DISPATCHED),  # re-assigned to someone closer
        (S.ON_SITE, A.PROGRESS, S.ON_SITE),  # progress is a fact, not a state
        (S.ON_SITE, A.PLAN_B, S.ON_SITE),  # a fallback plan is recorded, the state stays
        (S.ON_SITE, A.RESOLVE, S.RESOLVED),  # fixed
        (S.RESOLVED, A.CLOSE, S.CLOSED),  # closed after the hold
        (S.RESOLVED, A.REOPEN, S.REOPENED),  # it came back
        (S.CLOSED, A.REOPEN, S.REOPENED),  # it came back after closing
        (S.REOPENED, A.ACKNOWLEDGE, S.ACKNOWLEDGED),  # and starts over
        (S.OPEN, A.CANCEL, S.CANCELLED),  # a false alarm
        (S.CLOSED, A.COMMENT, S.CLOSED),  # a comment never changes the state
    ],
)
def test_legal_transitions(state: TicketState, action: TicketAction, expected: TicketState) -> None:
    assert next_state(state, action) is expected


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (S.ACKNOWLEDGED, A.ACKNOWLEDGE),  # acknowledged twice
        (S.OPEN, A.CLOSE),  # closing what was never resolved
        (S.ON_SITE, A.CHECK_IN),  # arriving twice
        (S.ON_SITE, A.CANCEL),  # an engineer on site cannot cancel: resolve it
        (S.CANCELLED, A.REOPEN),  # a cancelled ticket stays cancelled
        (S.CLOSED, A.RESOLVE),  # nothing to resolve
        (S.OPEN, A.REOPEN),  # it is open
        (S.OPEN, A.PROGRESS),  # progress needs someone dispatched
    ],
)
def test_illegal_transitions_name_state_and_action(state: TicketState, action: TicketAction) -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_state(state, action)
    assert caught.value.state == state.value and caught.value.action == action.value
    assert state.value in str(caught.value) and action.value in str(caught.value)


def test_every_state_is_reachable_and_every_target_is_a_state() -> None:
    reached = {S.OPEN} | set(TRANSITIONS.values())
    assert reached == set(TicketState)


@pytest.mark.parametrize(
    ("posted", "given", "ok"),
    [
        ("QJ9N-39Y3", "QJ9N-39Y3", True),  # the posted code proves arrival
        ("QJ9N-39Y3", "B1E1-0000", False),  # a wrong code is refused
        ("QJ9N-39Y3", None, False),  # no code is refused
        ("", None, True),  # an asset without a posted code has nothing to prove
    ],
)
def test_check_in_code(posted: str, given: str | None, ok: bool) -> None:
    if ok:
        check_in(posted, given)
    else:
        with pytest.raises(CheckInRefused):
            check_in(posted, given)


@pytest.mark.parametrize(
    ("level", "ack_s", "on_site_s", "fixed_s"),
    [
        (Level.RED, 60, 180, None),  # safety: acknowledge in a minute, on site in three
        (Level.ORANGE, 300, 1800, 24 * 3600),  # service impact
        (Level.YELLOW, 3600, None, 48 * 3600),  # rectification order: no on-site clock
        (Level.BLUE, 600, None, None),  # advisory
    ],
)
def test_deadlines_per_level(level: Level, ack_s: int, on_site_s: int | None, fixed_s: int | None) -> None:
    due = deadlines(level, T0, SlaSettings())

    def at(s: int | None) -> datetime | None:
        return None if s is None else T0 + timedelta(seconds=s)

    assert (due.acknowledge, due.on_site, due.fixed) == (at(ack_s), at(on_site_s), at(fixed_s))


def clock(
    name: Clock, due_s: float, next_s: float | None = None, fired: int = 0, stopped: bool = False
) -> ClockState:
    return ClockState(
        clock=name,
        due_at=T0 + timedelta(seconds=due_s),
        next_fire_at=T0 + timedelta(seconds=due_s if next_s is None else next_s),
        fired=fired,
        stopped_at=T0 if stopped else None,
    )


@pytest.mark.parametrize(
    ("clocks", "now_s", "expected"),
    [
        ([clock(Clock.ON_SITE, 180)], 179, []),  # not yet
        ([clock(Clock.ON_SITE, 180)], 180, [(Clock.ON_SITE, 0, 240)]),  # runs out: fire, next in a minute
        ([clock(Clock.ON_SITE, 180, 240, fired=1)], 241, [(Clock.ON_SITE, 1, 300)]),  # the repeat
        ([clock(Clock.ON_SITE, 180, 240, fired=1)], 1000, [(Clock.ON_SITE, 1, 1060)]),  # after a pause: once
        ([clock(Clock.ON_SITE, 180, stopped=True)], 500, []),  # somebody checked in
        (
            [clock(Clock.ACKNOWLEDGE, 60, 180, fired=2), clock(Clock.ON_SITE, 180)],
            180,
            [(Clock.ACKNOWLEDGE, 2, 240), (Clock.ON_SITE, 0, 240)],
        ),  # two clocks at once
    ],
)
def test_due_firings(
    clocks: list[ClockState], now_s: float, expected: list[tuple[Clock, int, float]]
) -> None:
    fired = due_firings(clocks, T0 + timedelta(seconds=now_s), repeat_s=60)
    assert [(f.clock, f.index, (f.next_fire_at - T0).total_seconds()) for f in fired] == expected


def test_escalation_reason_reads_as_text() -> None:
    fired = due_firings([clock(Clock.ON_SITE, 0)], T0, 60)
    assert fired[0].reason is EscalationReason.ON_SITE
    assert str(fired[0].reason) == "escalated: on-site clock ran out"


@pytest.mark.parametrize(
    ("step", "chain", "expected"),
    [(1, 3, 1), (2, 3, 2), (5, 3, 2), (1, 1, 0), (1, 0, 0)],  # up the chain, then stay at its top
)
def test_escalation_target(step: int, chain: int, expected: int) -> None:
    assert escalation_target(step, chain) == expected


@pytest.mark.parametrize(
    ("firing", "active", "expected"),
    [
        (None, True, AlertStep.OPEN),  # first time: an alert opens
        (None, False, AlertStep.IGNORE),  # a clear of nothing
        (AlertState.FIRING, True, AlertStep.REPEAT),  # a repeat counts on the open alert
        (AlertState.FIRING, False, AlertStep.CLEAR),  # normal again: the hold starts
    ],
)
def test_alert_steps(firing: AlertState | None, active: bool, expected: AlertStep) -> None:
    assert alert_step(firing, active) is expected


@pytest.mark.parametrize(
    ("cleared_s", "now_s", "expected"),
    [
        (None, 1000, False),  # not cleared: never resolves by time
        (0, 59, False),  # normal for 59 s of a 60 s hold
        (0, 60, True),  # the hold is over
    ],
)
def test_resolve_hold(cleared_s: float | None, now_s: float, expected: bool) -> None:
    cleared = None if cleared_s is None else T0 + timedelta(seconds=cleared_s)
    assert resolve_due(cleared, T0 + timedelta(seconds=now_s), 60) is expected


# --- what a ticket action does: decide(facts, event, now) -------------------------------------------

FIRING = ("A-000012 elevator.entrapment",)


def _at(*seconds: float) -> tuple[datetime, ...]:
    return tuple(T0 + timedelta(seconds=s) for s in seconds)


@pytest.mark.parametrize(
    ("facts", "event", "expected"),
    [
        # a person resolves what no longer fires
        (TicketFacts(S.ON_SITE), ActionRequest(A.RESOLVE, "eng"), ActionReason.RESOLVED),
        # a manager overrides a firing alert with a written reason
        (
            TicketFacts(S.ON_SITE, firing=FIRING),
            ActionRequest(A.RESOLVE, "mgr", override_reason="sensor cable cut"),
            ActionReason.RESOLVED_OVER_FIRING,
        ),
        # ... and again to close it
        (
            TicketFacts(S.RESOLVED, firing=FIRING),
            ActionRequest(A.CLOSE, "mgr", override_reason="sensor cable cut"),
            ActionReason.CLOSED_OVER_FIRING,
        ),
        # a comment is fine while it fires
        (
            TicketFacts(S.OPEN, firing=FIRING),
            ActionRequest(A.COMMENT, "eng", note="on my way"),
            ActionReason.COMMENTED,
        ),
        # five wrong codes on the ticket by other tokens do not hold this one up
        (
            TicketFacts(S.DISPATCHED, checkin_code="QJ9N-39Y3", wrong_on_ticket=_at(-50, -40, -30, -20, -10)),
            ActionRequest(A.CHECK_IN, "eng", checkin_code="QJ9N-39Y3"),
            ActionReason.CHECKED_IN,
        ),
        # the right code after the lock is over proves arrival
        (
            TicketFacts(
                S.DISPATCHED, checkin_code="QJ9N-39Y3", wrong_codes=_at(-1300, -1250, -1240, -1230, -1220)
            ),
            ActionRequest(A.CHECK_IN, "eng", checkin_code="QJ9N-39Y3"),
            ActionReason.CHECKED_IN,
        ),
    ],
)
def test_decide_allows(facts: TicketFacts, event: ActionRequest, expected: ActionReason) -> None:
    change, reason = decide(facts, event, T0)
    assert reason is expected and change.state is next_state(facts.state, event.action)


@pytest.mark.parametrize(
    ("facts", "event", "error", "message"),
    [
        # a person resolves while the alert fires: named
        (
            TicketFacts(S.ON_SITE, firing=FIRING),
            ActionRequest(A.RESOLVE, "eng"),
            StillFiring,
            "alert A-000012 elevator.entrapment is still firing",
        ),
        # closing is guarded alike
        (TicketFacts(S.RESOLVED, firing=FIRING), ActionRequest(A.CLOSE, "eng"), StillFiring, "still firing"),
        # so is cancelling as a false alarm: the sensor says otherwise
        (TicketFacts(S.OPEN, firing=FIRING), ActionRequest(A.CANCEL, "eng"), StillFiring, "cannot cancel"),
        # a blank reason is no reason
        (
            TicketFacts(S.ON_SITE, firing=FIRING),
            ActionRequest(A.RESOLVE, "mgr", override_reason="  "),
            StillFiring,
            "still firing",
        ),
        # an override goes only with resolve or close
        (
            TicketFacts(S.OPEN),
            ActionRequest(A.ACKNOWLEDGE, "mgr", override_reason="x"),
            ValueError,
            "override",
        ),
        # five wrong codes within ten minutes: even the right code waits, for the rest of the ten minutes
        (
            TicketFacts(S.DISPATCHED, checkin_code="QJ9N-39Y3", wrong_codes=_at(-50, -40, -30, -20, -10)),
            ActionRequest(A.CHECK_IN, "eng", checkin_code="QJ9N-39Y3"),
            TooManyCheckIns,
            "try again in 590 s",
        ),
        # twenty wrong codes on the ticket from any tokens: check-ins on it wait as well
        (
            TicketFacts(S.DISPATCHED, checkin_code="QJ9N-39Y3", wrong_on_ticket=_at(*range(-200, 0, 10))),
            ActionRequest(A.CHECK_IN, "eng", checkin_code="QJ9N-39Y3"),
            TooManyCheckIns,
            "try again in 590 s",
        ),
        # a wrong code is refused
        (
            TicketFacts(S.DISPATCHED, checkin_code="QJ9N-39Y3"),
            ActionRequest(A.CHECK_IN, "eng", checkin_code="QJ9N-0000"),
            CheckInRefused,
            "does not match",
        ),
        # the state comes first: an illegal action names state and action
        (
            TicketFacts(S.OPEN, firing=FIRING),
            ActionRequest(A.CLOSE, "mgr", override_reason="x"),
            IllegalTransition,
            "open",
        ),
    ],
)
def test_decide_refuses(
    facts: TicketFacts, event: ActionRequest, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        decide(facts, event, T0)


@pytest.mark.parametrize(
    ("wrong", "locked_until_s"),
    [
        ((), None),  # no wrong code
        ((-40, -30, -20, -10), None),  # four are not enough
        ((-50, -40, -30, -20, -10), 590),  # the fifth within ten minutes locks for ten minutes after it
        ((-700, -40, -30, -20, -10), None),  # five, but spread over more than ten minutes
        ((-650, -640, -630, -620, -610), None),  # locked once, and the lock is over
        ((-50, -40, -30, -20, -10, -5), 595),  # a sixth wrong code (from another token) extends it
        ((-40, -30, -20, -10, 30), None),  # a wrong code "from the future" is not counted
    ],
)
def test_checkin_lock(wrong: tuple[float, ...], locked_until_s: float | None) -> None:
    until = checkin_locked_until(_at(*wrong), T0)
    assert until == (None if locked_until_s is None else T0 + timedelta(seconds=locked_until_s))


# --- the alert condition machine ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "active", "at_s", "wall_s", "expected"),
    [
        (FindingFacts(firing=False), True, 0, None, FindingChange.OPEN),  # a new condition opens
        (FindingFacts(firing=False, pending_s=10), True, 0, None, FindingChange.WAIT),  # must hold first
        (FindingFacts(firing=False, lateness_s=300), True, 0, 301, FindingChange.WAIT),  # a replay waits
        (FindingFacts(firing=False, lateness_s=300), True, 0, 300, FindingChange.OPEN),  # just in time
        (FindingFacts(firing=False), False, 0, None, FindingChange.END_PENDING),  # a clear of nothing open
        (
            FindingFacts(firing=False, recorded_until=T0 + timedelta(seconds=8)),
            True,
            0,
            None,
            FindingChange.NOTHING,
        ),  # an incident its last alert recorded, committed again after a crash
        (
            FindingFacts(firing=False, recorded_until=T0 + timedelta(seconds=8)),
            True,
            9,
            None,
            FindingChange.OPEN,
        ),  # a new incident after it
        (FindingFacts(firing=True, updated_at=T0), True, 5, None, FindingChange.REPEAT),  # fires again
        (FindingFacts(firing=True, updated_at=T0), True, 0, None, FindingChange.NOTHING),  # a redelivery
        (
            FindingFacts(firing=True, cleared_at=T0, updated_at=T0),
            True,
            0,
            None,
            FindingChange.REPEAT,
        ),  # back
        (FindingFacts(firing=True), False, 0, None, FindingChange.CLEAR),  # normal: the hold starts
        (FindingFacts(firing=True, cleared_at=T0), False, 5, None, FindingChange.NOTHING),  # still normal
    ],
)
def test_decide_finding(
    facts: FindingFacts, active: bool, at_s: float, wall_s: float | None, expected: FindingChange
) -> None:
    wall = None if wall_s is None else T0 + timedelta(seconds=wall_s)
    change, reason = decide_finding(facts, FindingEvent(active, T0 + timedelta(seconds=at_s)), wall)
    assert change is expected and ":" in reason.value


@pytest.mark.parametrize(
    ("level", "inhibitor", "expected", "reason"),
    [
        (
            Level.ORANGE,
            None,
            Suppression.NOTIFY,
            SuppressionReason.NOTHING_EXPLAINS_IT,
        ),  # nothing explains it
        (
            Level.ORANGE,
            "A-000003 power.outage",
            Suppression.SUPPRESS,
            SuppressionReason.INHIBITED,
        ),  # the outage does
        (
            Level.BLUE,
            "A-000003 power.outage",
            Suppression.SUPPRESS,
            SuppressionReason.INHIBITED,
        ),  # offline devices
        (
            Level.RED,
            "A-000003 power.outage",
            Suppression.NOTIFY,
            SuppressionReason.RED_NEVER_SUPPRESSED,
        ),  # safety
    ],
)
def test_decide_suppression(
    level: Level, inhibitor: str | None, expected: Suppression, reason: SuppressionReason
) -> None:
    assert decide_suppression(SuppressionFacts(level, inhibitor), T0) == (expected, reason)


@pytest.mark.parametrize(
    ("level", "until_s", "notify", "reason"),
    [
        (Level.ORANGE, None, True, SilenceReason.NOT_SILENCED),  # not silenced
        (Level.ORANGE, 60, False, SilenceReason.SILENCED),  # silenced: on the timeline, nobody told
        (Level.ORANGE, 0, True, SilenceReason.NOT_SILENCED),  # the silence has ended
        (Level.RED, 60, True, SilenceReason.RED_NEVER_SILENCED),  # a RED is told anyway, and says so
    ],
)
def test_decide_silence(level: Level, until_s: float | None, notify: bool, reason: SilenceReason) -> None:
    until = None if until_s is None else T0 + timedelta(seconds=until_s)
    assert decide_silence(level, until, T0) == (notify, reason)


@pytest.mark.parametrize(
    ("facts", "at_s", "cleared", "wall_s", "expected"),
    [
        (PendingFacts(T0, pending_s=10), 5, False, None, PendingChange.WAIT),  # not held long enough yet
        (PendingFacts(T0, pending_s=10), 10, False, None, PendingChange.OPEN),  # held: opens at since + 10 s
        (
            PendingFacts(T0, pending_s=10, replaying=True),
            60,
            False,
            None,
            PendingChange.WAIT,
        ),  # a replay may clear it
        (PendingFacts(T0, pending_s=10), 5, True, None, PendingChange.DROP),  # a blip: nothing to record
        (PendingFacts(T0, pending_s=10), 30, True, None, PendingChange.OPEN_CLEARED),  # held, then normal
        (
            PendingFacts(T0, lateness_s=300),
            30,
            True,
            3600,
            PendingChange.OPEN_LATE,
        ),  # all over before it arrived
        (PendingFacts(T0, lateness_s=300), 30, True, 320, PendingChange.OPEN_CLEARED),  # its clear is current
    ],
)
def test_decide_pending(
    facts: PendingFacts, at_s: float, cleared: bool, wall_s: float | None, expected: PendingChange
) -> None:
    wall = None if wall_s is None else T0 + timedelta(seconds=wall_s)
    change, reason = decide_pending(facts, PendingEvent(T0 + timedelta(seconds=at_s), cleared), wall)
    assert change is expected and ":" in reason.value


ALL = frozenset(Clock)


@pytest.mark.parametrize(
    ("state", "action", "stops", "acknowledges", "ends_manual", "notify"),
    [
        (S.OPEN, A.ACKNOWLEDGE, {Clock.ACKNOWLEDGE}, True, False, True),  # seen: the acknowledge clock stops
        (S.OPEN, A.DISPATCH, {Clock.ACKNOWLEDGE}, True, False, True),  # dispatching acknowledges too
        (S.DISPATCHED, A.CHECK_IN, {Clock.ACKNOWLEDGE, Clock.ON_SITE}, True, False, True),  # arrived
        (S.ON_SITE, A.PROGRESS, set(), False, False, True),  # progress is told, stops nothing
        (S.ON_SITE, A.RESOLVE, ALL, False, True, True),  # fixed: every clock stops, rectification ends
        (S.OPEN, A.CANCEL, ALL, False, True, True),  # a false alarm (nothing fires) ends everything
        (S.RESOLVED, A.REOPEN, set(), False, False, True),  # back: its clocks are set by the alert
        (S.OPEN, A.COMMENT, set(), False, False, False),  # a comment is for the timeline, nobody is told
    ],
)
def test_what_an_action_changes(
    state: TicketState,
    action: TicketAction,
    stops: set[Clock],
    acknowledges: bool,
    ends_manual: bool,
    notify: bool,
) -> None:
    request = ActionRequest(
        action, "eng", checkin_code="QJ9N-39Y3", percent=50 if action is A.PROGRESS else None
    )
    change, _ = decide(TicketFacts(state, checkin_code="QJ9N-39Y3"), request, T0)
    assert change.stops == stops and change.acknowledges is acknowledges
    assert (change.ends_manual_alerts, change.notify) == (ends_manual, notify)
    assert change.values["state"] == change.state.value and change.values["updated_at"] == T0


HOUR = 3600.0


@pytest.mark.parametrize(
    ("facts", "now_s", "expected", "reason"),
    [
        (QuietFacts(T0, firing=1), 2 * HOUR, False, QuietReason.FIRING),  # its alert still fires or holds
        (QuietFacts(T0, normal_since=_at(600)), HOUR, False, QuietReason.WAIT),  # normal only since 10 min
        (QuietFacts(T0, normal_since=_at(600)), HOUR + 600, True, QuietReason.CLOSE),  # a quiet hour: closed
        (
            QuietFacts(T0),
            HOUR,
            True,
            QuietReason.CLOSE,
        ),  # no alert (an owner's report): an hour after resolving
        (
            QuietFacts(T0, normal_since=(None,)),
            HOUR,
            True,
            QuietReason.CLOSE,
        ),  # an alert never cleared by time
    ],
)
def test_decide_close(facts: QuietFacts, now_s: float, expected: bool, reason: QuietReason) -> None:
    assert decide_close(facts, T0 + timedelta(seconds=now_s)) == (expected, reason)


@pytest.mark.parametrize(
    ("due_s", "firing", "now_s", "expected", "reason"),
    [
        (None, 0, 0, False, QuietReason.NOT_DUE),  # nothing due (cancelled, or already asked)
        (86400, 0, 86399, False, QuietReason.NOT_DUE),  # a second early
        (86400, 0, 86400, True, QuietReason.FOLLOW_UP),  # the day after, all clear: ask the owners
        (86400, 1, 90000, False, QuietReason.FOLLOW_UP_WAITS),  # resolved over a firing alert: wait for it
    ],
)
def test_decide_follow_up(
    due_s: float | None, firing: int, now_s: float, expected: bool, reason: QuietReason
) -> None:
    due = None if due_s is None else T0 + timedelta(seconds=due_s)
    facts = QuietFacts(T0, firing=firing, follow_up_due=due)
    assert decide_follow_up(facts, T0 + timedelta(seconds=now_s)) == (expected, reason)
