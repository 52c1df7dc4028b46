"""Small in-memory stand-ins for the API's ports, so route tests need no alert engine or telemetry store."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from alerts.engine.errors import CheckInRefused, IllegalTransition, NotFound
from alerts.engine.ports import (
    ALL_ALERTS,
    ALL_TICKETS,
    ActionRequest,
    AlertQuery,
    IncidentCount,
    OwnerReport,
    SlaFigures,
    TicketQuery,
)
from facwatch.model import (
    Alert,
    AlertState,
    DeadLetter,
    DeadLetterReason,
    Deadlines,
    Level,
    Page,
    Point,
    Site,
    TelemetryQuery,
    Ticket,
    TicketAction,
    TicketEvent,
    TicketState,
)

T = TypeVar("T")
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def paginate(items: Sequence[T], limit: int, cursor: str | None) -> Page[T]:
    """Offset cursors, refusing one it did not give out (as a real store must)."""
    if cursor is not None and not cursor.isdigit():
        raise ValueError(f"bad cursor {cursor!r}")
    start = int(cursor or 0)
    end = start + limit
    return Page(items=list(items[start:end]), next=str(end) if end < len(items) else None)


# (from state, action) -> to state: just enough of the lifecycle to exercise the API's error mapping.
_MOVES = {
    (TicketState.OPEN, TicketAction.ACKNOWLEDGE): TicketState.ACKNOWLEDGED,
    (TicketState.OPEN, TicketAction.CHECK_IN): TicketState.ON_SITE,
    (TicketState.ACKNOWLEDGED, TicketAction.CHECK_IN): TicketState.ON_SITE,
    (TicketState.ON_SITE, TicketAction.RESOLVE): TicketState.RESOLVED,
}


@dataclass
class FakeAlerts:
    site: Site
    alerts: list[Alert] = field(default_factory=list)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    requests: list[tuple[str, ActionRequest, datetime]] = field(default_factory=list)
    filters: list[dict[str, object]] = field(default_factory=list)
    reports: list[OwnerReport] = field(default_factory=list)
    report_calls: list[tuple[str, str | None, datetime, datetime, str]] = field(default_factory=list)

    def add_incident(self, asset: str, level: Level, opened_at: datetime, kind: str = "test.kind") -> Alert:
        n = len(self.alerts) + 1
        building = self.site.asset(asset).building  # type: ignore[union-attr]
        ticket = Ticket(
            id=f"T{n}",
            site=self.site.id,
            asset=asset,
            building=building,
            kind=kind,
            level=level,
            state=TicketState.OPEN,
            title=f"{kind} on {asset}",
            created_at=opened_at,
            updated_at=opened_at,
            deadlines=Deadlines(
                acknowledge=opened_at + timedelta(seconds=60), on_site=opened_at + timedelta(minutes=3)
            ),
            alert_ids=(f"A{n}",),
            timeline=(TicketEvent(ts=opened_at, action="open", actor="facwatch", note="opened by alert"),),
        )
        alert = Alert(
            id=f"A{n}",
            site=self.site.id,
            asset=asset,
            building=building,
            kind=kind,
            level=level,
            state=AlertState.FIRING,
            summary=f"{kind} summary",
            opened_at=opened_at,
            updated_at=opened_at,
            ticket_id=ticket.id,
        )
        self.alerts.append(alert)
        self.tickets[ticket.id] = ticket
        return alert

    def list_alerts(self, query: AlertQuery = ALL_ALERTS) -> Page[Alert]:
        q = query
        self.filters.append({"site": q.site, "building": q.building, "since": q.since, "until": q.until})
        chosen = [
            a
            for a in self.alerts
            if (q.site is None or a.site == q.site)
            and (q.building is None or a.building == q.building)
            and (q.asset is None or a.asset == q.asset)
            and (q.level is None or a.level == q.level)
            and (q.state is None or a.state == q.state)
            and (q.since is None or a.opened_at >= q.since)
            and (q.until is None or a.opened_at < q.until)
        ]
        chosen.sort(key=lambda a: (a.state != AlertState.FIRING, a.level.rank, -a.opened_at.timestamp()))
        return paginate(chosen, q.limit, q.cursor)

    def get_alert(self, alert_id: str) -> Alert:
        for alert in self.alerts:
            if alert.id == alert_id:
                return alert
        raise NotFound(f"no alert {alert_id}")

    def list_tickets(self, query: TicketQuery = ALL_TICKETS) -> Page[Ticket]:
        q = query
        chosen = [
            dataclasses.replace(t, timeline=())
            for t in sorted(self.tickets.values(), key=lambda t: t.created_at, reverse=True)
            if (q.site is None or t.site == q.site)
            and (q.building is None or t.building == q.building)
            and (q.asset is None or t.asset == q.asset)
            and (q.state is None or t.state == q.state)
            and (q.level is None or t.level == q.level)
            and (q.source is None or t.source == q.source)
            and (q.since is None or t.created_at >= q.since)
            and (q.until is None or t.created_at < q.until)
        ]
        return paginate(chosen, q.limit, q.cursor)

    def get_ticket(self, ticket_id: str) -> Ticket:
        try:
            return self.tickets[ticket_id]
        except KeyError:
            raise NotFound(f"no ticket {ticket_id}") from None

    def act(self, ticket_id: str, request: ActionRequest, now: datetime) -> Ticket:
        ticket = self.get_ticket(ticket_id)
        self.requests.append((ticket_id, request, now))
        target = _MOVES.get((ticket.state, request.action))
        if target is None:
            raise IllegalTransition(ticket.state, request.action)
        if request.action == TicketAction.CHECK_IN:
            asset = self.site.asset(ticket.asset)
            if not request.checkin_code or asset is None or request.checkin_code != asset.checkin_code:
                raise CheckInRefused(f"the code does not match the one posted at {ticket.asset}")
        event = TicketEvent(ts=now, action=request.action, actor=request.actor, note=request.note)
        ticket = dataclasses.replace(
            ticket,
            state=target,
            updated_at=now,
            timeline=(*ticket.timeline, event),
            assignee=request.assignee or ticket.assignee,
            progress_percent=request.percent if request.percent is not None else ticket.progress_percent,
            eta=request.eta or ticket.eta,
        )
        self.tickets[ticket_id] = ticket
        return ticket

    def _replace_alert(self, alert: Alert) -> Alert:
        self.alerts = [alert if a.id == alert.id else a for a in self.alerts]
        return alert

    def acknowledge_alert(self, alert_id: str, actor: str, now: datetime) -> Alert:
        alert = self.get_alert(alert_id)
        return self._replace_alert(dataclasses.replace(alert, acknowledged_at=now, acknowledged_by=actor))

    def silence_alert(
        self, alert_id: str, *, until: datetime, reason: str, actor: str, now: datetime
    ) -> Alert:
        alert = self.get_alert(alert_id)
        if until <= now or not reason:
            raise ValueError("until must be in the future and a reason given")
        return self._replace_alert(dataclasses.replace(alert, silenced_until=until, silence_reason=reason))

    def open_owner_ticket(self, report: OwnerReport, now: datetime) -> Ticket:
        self.reports.append(report)
        ticket = Ticket(
            id=f"T{len(self.tickets) + 1}",
            site=report.site,
            asset=report.asset or "",
            building=report.building,
            kind=f"owner.{report.category}",
            level=Level.ORANGE,
            state=TicketState.OPEN,
            title=report.text[:80],
            created_at=now,
            updated_at=now,
            deadlines=Deadlines(acknowledge=now + timedelta(minutes=10)),
            timeline=(TicketEvent(ts=now, action="open", actor=report.reporter, note=report.text),),
            source="owner",
            unit=report.unit,
            category=report.category,
            description=report.text,
            photo_urls=report.photo_urls,
            location=report.location,
        )
        self.tickets[ticket.id] = ticket
        return ticket

    def sla_report(self, *, site: str | None, since: datetime, until: datetime) -> list[SlaFigures]:
        self.report_calls.append(("sla", site, since, until, ""))
        return [
            SlaFigures(self.site.id, Level.RED, 2, 2, 1, 1, 30.0, 50.0, 170.0, 170.0, 3600.0, 3600.0, 0, 1, 0)
        ]

    def incident_report(
        self, *, site: str | None, since: datetime, until: datetime, period: str = "month"
    ) -> list[IncidentCount]:
        self.report_calls.append(("incidents", site, since, until, period))
        return [
            IncidentCount(
                period=since.strftime("%Y-%m"),
                site=self.site.id,
                asset=a.asset,
                kind=a.kind,
                level=a.level,
                count=1,
            )
            for a in self.alerts
            if since <= a.opened_at < until
        ]


@dataclass
class FakeTelemetry:
    points: list[Point] = field(default_factory=list)
    latest_values: dict[str, dict[str, Point]] = field(default_factory=dict)
    queries: list[tuple[str, str, str, int, int, int | None, str]] = field(default_factory=list)

    def query(self, query: TelemetryQuery) -> list[Point]:
        q = query
        self.queries.append((q.site, q.asset, q.channel, q.start_ms, q.end_ms, q.every_ms, q.fn))
        points = [p for p in self.points if p.channel == q.channel and q.start_ms <= p.ts_ms < q.end_ms]
        return points if q.limit is None else points[: q.limit]

    def latest(self, site: str, asset: str) -> dict[str, Point]:
        return dict(self.latest_values.get(asset, {}))


@dataclass
class FakeDeadLetters:
    letters: list[DeadLetter] = field(default_factory=list)

    def list(self, limit: int, cursor: str | None) -> Page[DeadLetter]:
        return paginate(self.letters, limit, cursor)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for letter in self.letters:
            counts[letter.reason] = counts.get(letter.reason, 0) + 1
        return counts


def dead_letter(n: int, reason: DeadLetterReason = DeadLetterReason.MALFORMED) -> DeadLetter:
    return DeadLetter(
        topic="fw/lakeside/pump/b1-pump-1/telemetry",
        reason=reason,
        detail=f"letter {n}",
        payload=b"{not json \xff",
        received_ms=1_714_550_400_000 + n,
        id=n,
    )
