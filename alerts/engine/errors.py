"""Errors of the alert engine.

AlertsError
├── NotFound            no alert or ticket with that id
├── IllegalTransition   the ticket's lifecycle refuses this action in this state (names both)
├── CheckInRefused      a check-in without the asset's code: arrival must be proven at the asset
├── TooManyCheckIns     too many wrong check-in codes lately: check-ins on the ticket wait (``retry_after_s``)
└── StillFiring         a person resolves, closes or cancels a ticket whose alert still fires (names it)
"""

from __future__ import annotations


class AlertsError(Exception):
    pass


class NotFound(AlertsError):
    pass


class IllegalTransition(AlertsError):
    def __init__(self, state: str, action: str) -> None:
        super().__init__(f"cannot {action} a ticket that is {state}")
        self.state = state
        self.action = action


class CheckInRefused(AlertsError):
    pass


class TooManyCheckIns(AlertsError):
    def __init__(self, retry_after_s: float) -> None:
        seconds = max(1, int(retry_after_s + 0.999))
        super().__init__(f"check-in refused: too many wrong codes; try again in {seconds} s")
        self.retry_after_s = seconds


class StillFiring(AlertsError):
    def __init__(self, action: str, firing: tuple[str, ...]) -> None:
        what = ", ".join(f"alert {alert}" for alert in firing)
        verb = "is" if len(firing) == 1 else "are"
        super().__init__(
            f"cannot {action} the ticket: {what} {verb} still firing "
            "(a manager may override with override_reason)"
        )
        self.action = action
        self.firing = firing
