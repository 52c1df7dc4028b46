"""What the alert engine offers the API: queries over alerts and tickets, and ticket actions.

A list query is one value (``AlertQuery``, ``TicketQuery``), built once where the question is asked (the API's
route, the chat, a report) and passed as it is through every layer down to the SQL (``alerts.engine.store``).

``alerts.engine.service.AlertService`` implements it on the state database; the API depends only on this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from facwatch.model import Alert, AlertState, Level, Page, Ticket, TicketAction, TicketState


@dataclass(frozen=True, slots=True)
class OwnerReport:
    """An owner-reported problem, taken in by the API; it opens a ticket with a 10-minute acknowledge clock."""

    site: str
    building: str
    category: str
    """e.g. ``elevator``, ``water``, ``power``, ``other``."""
    text: str
    reporter: str
    unit: str | None = None
    asset: str | None = None
    """When the owner names the machine (e.g. the elevator of their unit)."""
    photo_urls: tuple[str, ...] = ()
    location: str | None = None


@dataclass(frozen=True, slots=True)
class SlaFigures:
    """SLA compliance of one level on one site over a period (seconds; None when nothing was measured)."""

    site: str
    level: Level
    tickets: int
    acknowledged: int
    arrived: int
    fixed: int
    ack_p50_s: float | None
    ack_p90_s: float | None
    arrive_p50_s: float | None
    arrive_p90_s: float | None
    fix_p50_s: float | None
    fix_p90_s: float | None
    ack_breaches: int
    arrive_breaches: int
    fix_breaches: int
    arrived_corroborated: int = 0
    """Of the arrivals, those the sensors corroborated (the rest were shown by the code only)."""
    arrive_corroborated_p50_s: float | None = None
    arrive_code_only_p50_s: float | None = None
    company: str | None = None
    """None: every ticket of the level; a company's id: only the tickets dispatched to it."""


@dataclass(frozen=True, slots=True)
class IncidentCount:
    """Incidents (alerts opened) of one kind on one asset in one period (``2026-11`` or ``2026-Q4``)."""

    period: str
    site: str
    asset: str
    kind: str
    level: Level
    count: int


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
    plan_b: str | None = None
    """For ``plan_b``: what is done for the owners meanwhile (e.g. staff help residents with the stairs)."""
    override_reason: str | None = None
    """For ``resolve`` / ``close`` / ``cancel`` of a ticket whose alert still fires: a manager's written reason. The caller
    (the API) lets only a manager's token pass it; the timeline keeps who, when and why."""
    cost: float | None = None
    """For ``resolve`` and ``close``: what the repair cost (site currency, >= 0); kept on the ticket."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListQuery:
    """The filters every list has, and which page: each filter ``None`` asks for everything."""

    site: str | tuple[str, ...] | None = None
    """One site, the sites a token is limited to (a tuple), or every site (None)."""
    building: str | None = None
    asset: str | None = None
    level: Level | None = None
    since: datetime | None = None
    """With ``until``: ``[since, until)`` of when the item began (an alert opened, a ticket was created)."""
    until: datetime | None = None
    limit: int = 100
    """Items on a page (1..1000; more is read as 1000)."""
    cursor: str | None = None
    """The previous page's ``next``; None for the first page."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertQuery(ListQuery):
    """Which alerts a list shows (``AlertsApi.list_alerts``)."""

    state: AlertState | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketQuery(ListQuery):
    """Which tickets a list shows (``AlertsApi.list_tickets``)."""

    state: TicketState | None = None
    source: str | None = None
    """``sensor`` or ``owner``."""


ALL_ALERTS = AlertQuery()
"""No filter, the first page: the default of ``list_alerts``."""
ALL_TICKETS = TicketQuery()
"""No filter, the first page: the default of ``list_tickets``."""


class AlertsApi(Protocol):
    def list_alerts(self, query: AlertQuery = ALL_ALERTS) -> Page[Alert]:
        """Firing alerts first, worst level first, then newest first."""
        ...

    def get_alert(self, alert_id: str) -> Alert:
        """Raises NotFound."""
        ...

    def list_tickets(self, query: TicketQuery = ALL_TICKETS) -> Page[Ticket]:
        """Newest first; items carry no timeline (``get_ticket`` does)."""
        ...

    def get_ticket(self, ticket_id: str) -> Ticket:
        """With its timeline. Raises NotFound."""
        ...

    def act(self, ticket_id: str, request: ActionRequest, now: datetime) -> Ticket:
        """Apply a ticket action. Raises NotFound, IllegalTransition, CheckInRefused, ValueError."""
        ...

    def acknowledge_alert(self, alert_id: str, actor: str, now: datetime) -> Alert:
        """Acknowledge an alert (and its ticket's acknowledge clock). Raises NotFound."""
        ...

    def silence_alert(
        self, alert_id: str, *, until: datetime, reason: str, actor: str, now: datetime
    ) -> Alert:
        """Notify nobody about this alert until ``until`` (recorded on its ticket's timeline). Raises NotFound,
        ValueError (``until`` not in the future, empty reason)."""
        ...

    def open_owner_ticket(self, report: OwnerReport, now: datetime) -> Ticket:
        """An owner-reported ticket (source ``owner``), acknowledge clock 10 minutes. Raises ValueError
        (unknown building or asset)."""
        ...

    def sla_report(self, *, site: str | None, since: datetime, until: datetime) -> list[SlaFigures]:
        """One row per (site, level) with tickets created in [since, until)."""
        ...

    def incident_report(
        self, *, site: str | None, since: datetime, until: datetime, period: str = "month"
    ) -> list[IncidentCount]:
        """Alerts opened in [since, until) per period (``month`` or ``quarter``, site time zone), asset and kind."""
        ...


class PhotoFiles(Protocol):
    """Where the owners' cleaned photos are kept, by name (``facwatch.owner_setup.PhotoDirectory``: files, 0600)."""

    def write(self, name: str, data: bytes) -> None: ...

    def read(self, name: str) -> bytes | None:
        """The photo's bytes; None when it is no longer kept."""
        ...

    def remove(self, name: str) -> None:
        """Forget the photo (nothing happens when it is already gone)."""
        ...
