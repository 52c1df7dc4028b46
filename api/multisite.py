"""The API over several sites: reads over every site's rows, writes routed to the site an object belongs to.

Every site's alert service reads the same state database, so a read (``list_alerts``, ``get_ticket``, a
report) is answered by any of them with the caller's site filter; a write on an alert or a ticket goes to the
alert service of the site the alert or ticket belongs to (its rules, its people, its SLA clocks). Telemetry
is read from the site's own store (InfluxDB stores know their site's assets).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from alerts.engine.errors import NotFound
from alerts.engine.ports import (
    ALL_ALERTS,
    ALL_TICKETS,
    ActionRequest,
    AlertQuery,
    AlertsApi,
    IncidentCount,
    OwnerReport,
    SlaFigures,
    TicketQuery,
)
from facwatch.model import Alert, Page, Point, TelemetryQuery, TelemetryReader, Ticket


class SiteAlerts:
    """``AlertsApi`` over several sites' alert services (one per site id)."""

    def __init__(self, services: Mapping[str, AlertsApi]) -> None:
        if not services:
            raise ValueError("SiteAlerts needs at least one site")
        self._services = dict(services)
        self._reader = next(iter(self._services.values()))

    def site(self, site: str) -> AlertsApi:
        """The alert service of one site; NotFound for a site this process does not serve."""
        service = self._services.get(site)
        if service is None:
            raise NotFound(f"no site {site!r}")
        return service

    def list_alerts(self, query: AlertQuery = ALL_ALERTS) -> Page[Alert]:
        return self._reader.list_alerts(query)

    def get_alert(self, alert_id: str) -> Alert:
        return self._reader.get_alert(alert_id)

    def list_tickets(self, query: TicketQuery = ALL_TICKETS) -> Page[Ticket]:
        return self._reader.list_tickets(query)

    def get_ticket(self, ticket_id: str) -> Ticket:
        return self._reader.get_ticket(ticket_id)

    def act(self, ticket_id: str, request: ActionRequest, now: datetime) -> Ticket:
        site = self._reader.get_ticket(ticket_id).site
        return self.site(site).act(ticket_id, request, now)

    def acknowledge_alert(self, alert_id: str, actor: str, now: datetime) -> Alert:
        site = self._reader.get_alert(alert_id).site
        return self.site(site).acknowledge_alert(alert_id, actor, now)

    def silence_alert(
        self, alert_id: str, *, until: datetime, reason: str, actor: str, now: datetime
    ) -> Alert:
        site = self._reader.get_alert(alert_id).site
        return self.site(site).silence_alert(alert_id, until=until, reason=reason, actor=actor, now=now)

    def open_owner_ticket(self, report: OwnerReport, now: datetime) -> Ticket:
        service = self._services.get(report.site)
        if service is None:
            raise ValueError(f"unknown site {report.site!r}")
        return service.open_owner_ticket(report, now)

    def sla_report(self, *, site: str | None, since: datetime, until: datetime) -> list[SlaFigures]:
        return self._reader.sla_report(site=site, since=since, until=until)

    def incident_report(
        self, *, site: str | None, since: datetime, until: datetime, period: str = "month"
    ) -> list[IncidentCount]:
        return self._reader.incident_report(site=site, since=since, until=until, period=period)


class SiteTelemetry:
    """``TelemetryReader`` over several sites' stores: each query goes to its site's store."""

    def __init__(self, readers: Mapping[str, TelemetryReader]) -> None:
        self._readers = dict(readers)

    def _reader(self, site: str) -> TelemetryReader:
        reader = self._readers.get(site)
        if reader is None:
            raise ValueError(f"no site {site!r}")
        return reader

    def query(self, query: TelemetryQuery) -> list[Point]:
        return self._reader(query.site).query(query)

    def latest(self, site: str, asset: str) -> dict[str, Point]:
        return self._reader(site).latest(site, asset)


def site_service(alerts: AlertsApi, site: str) -> AlertsApi:
    """The alert service of one site (itself when the API serves one site through it)."""
    return alerts.site(site) if isinstance(alerts, SiteAlerts) else alerts
