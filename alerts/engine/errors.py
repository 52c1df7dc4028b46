"""Errors of the alert engine.

AlertsError
├── NotFound            no alert or ticket with that id
├── IllegalTransition   the ticket's lifecycle refuses this action in this state (names both)
└── CheckInRefused      a check-in without the asset's code: arrival must be proven at the asset
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
