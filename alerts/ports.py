"""What the alert engine offers the API: queries over alerts and tickets, and ticket actions.

``alerts.service.AlertService`` implements it on the state database; the API depends only on this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from facwatch.model import Alert, AlertState, Level, Page, Ticket, TicketAction, TicketState


@dataclass(frozen=True, slots=True)
class ActionRequest:
    action: TicketAction
    actor: str
    note: str = ""
    checkin_code: str | None = None
    """Required for ``check_in``: the code posted at the asset."""
    assignee: str | None = None
    """For ``dispatch``."""
    eta: datetime | None = None
    """For ``dispatch`` and ``progress``."""
    percent: float | None = None
    """For ``progress``: 0..100."""


class AlertsApi(Protocol):
    def list_alerts(
        self,
        *,
        site: str | None = None,
        asset: str | None = None,
        level: Level | None = None,
        state: AlertState | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Alert]:
        """Firing alerts first, worst level first, then newest first."""
        ...

    def get_alert(self, alert_id: str) -> Alert:
        """Raises NotFound."""
        ...

    def list_tickets(
        self,
        *,
        site: str | None = None,
        asset: str | None = None,
        state: TicketState | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Ticket]:
        """Newest first; items carry no timeline (``get_ticket`` does)."""
        ...

    def get_ticket(self, ticket_id: str) -> Ticket:
        """With its timeline. Raises NotFound."""
        ...

    def act(self, ticket_id: str, request: ActionRequest, now: datetime) -> Ticket:
        """Apply a ticket action. Raises NotFound, IllegalTransition, CheckInRefused, ValueError."""
        ...
