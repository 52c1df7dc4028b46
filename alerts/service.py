"""The alert engine's shell: readings in, alerts, tickets, SLA clocks and notifications out.

``observe`` runs the rules on a durable batch (event time = the readings' ts), applies the alert
lifecycle, opens or joins tickets, writes notifications to the outbox, all in one transaction, then
publishes ``alert`` / ``ticket`` events. ``tick(now)`` runs the SLA clocks and escalates; ``act`` applies
a person's ticket action. A lock serialises the three inside a process; row locks (PostgreSQL) and the
database's unique keys keep several processes honest.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from alerts import lifecycle, store
from alerts.db import (
    alert_ref,
    alerts,
    new_pk,
    parse_ref,
    sla_clocks,
    ticket_alerts,
    ticket_ref,
    tickets,
    utc,
    utc_now,
)
from alerts.errors import NotFound
from alerts.events import EventBus
from alerts.lifecycle import AlertStep, Clock, ClockState
from alerts.notices import Notice, NoticeKind, Notifier
from alerts.notify import OutboxNotifier
from alerts.ports import ActionRequest, IncidentCount, OwnerReport, SlaFigures
from alerts.rules import Rules
from alerts.tickets import TicketWriter
from facwatch.config import SlaSettings
from facwatch.model import (
    Alert,
    AlertState,
    Finding,
    Level,
    Page,
    Reading,
    Site,
    Ticket,
    TicketState,
    utc_from_ms,
)

SYSTEM = "system"


@dataclass
class Changes:
    alerts: set[int] = field(default_factory=set)
    tickets: set[int] = field(default_factory=set)


class AlertService:
    """Implements ``alerts.ports.AlertsApi`` on the state database."""

    def __init__(
        self,
        engine: Engine,
        site: Site,
        sla: SlaSettings,
        bus: EventBus,
        notifier: Notifier | None = None,
    ) -> None:
        self.engine = engine
        self.site = site
        self.sla = sla
        self.bus = bus
        self.notifier: Notifier = notifier or OutboxNotifier(site)
        self.rules = Rules(site)
        self.tickets = TicketWriter(site, sla, self.notifier)
        self._lock = threading.Lock()

    # --- readings ---------------------------------------------------------------------------------------

    def observe(self, readings: Sequence[Reading]) -> None:
        if not readings:
            return
        with self._lock:
            findings = self.rules.observe(readings)
            self._take(findings, utc_from_ms(max(r.ts_ms for r in readings)))

    def observe_findings(self, findings: Sequence[Finding]) -> None:
        """Findings from outside the rules: device presence and the data path (gateway), undelivered RED
        notifications (dispatcher). Applied like the rules' own, at their event time."""
        if not findings:
            return
        with self._lock:
            self._take(findings, utc_from_ms(max(f.ts_ms for f in findings)))

    def _take(self, findings: Sequence[Finding], now: datetime) -> None:
        changes = Changes()
        with self.engine.begin() as conn:
            for finding in findings:
                self._apply(conn, finding, changes)
            self._resolve_held(conn, now, changes)
        self._publish(changes, now)

    def _apply(self, conn: Connection, finding: Finding, changes: Changes) -> None:
        asset = self.site.asset(finding.asset)
        if asset is None:
            return
        row = conn.execute(
            select(alerts)
            .where(
                alerts.c.site == finding.site,
                alerts.c.asset == finding.asset,
                alerts.c.kind == finding.kind,
                alerts.c.state == AlertState.FIRING.value,
            )
            .with_for_update()
        ).first()
        when = utc_from_ms(finding.ts_ms)
        step = lifecycle.alert_step(None if row is None else AlertState(row.state), finding.active)
        if step is AlertStep.OPEN:
            pk = new_pk(
                conn.execute(
                    insert(alerts).values(
                        site=finding.site,
                        asset=finding.asset,
                        building=asset.building,
                        kind=finding.kind,
                        level=finding.level.value,
                        state=AlertState.FIRING.value,
                        summary=finding.summary,
                        opened_at=when,
                        updated_at=when,
                        count=1,
                        value=finding.value,
                    )
                )
            )
            changes.alerts.add(pk)
            changes.tickets.add(self.tickets.open_or_join(conn, pk, finding, asset, when))
        elif row is not None and step is AlertStep.REPEAT:
            conn.execute(
                update(alerts)
                .where(alerts.c.id == row.id)
                .values(count=alerts.c.count + 1, cleared_at=None, updated_at=when, value=finding.value)
            )
            changes.alerts.add(row.id)
        elif row is not None and step is AlertStep.CLEAR and row.cleared_at is None:
            conn.execute(update(alerts).where(alerts.c.id == row.id).values(cleared_at=when, updated_at=when))
            changes.alerts.add(row.id)

    def _resolve_held(self, conn: Connection, now: datetime, changes: Changes) -> None:
        rows = conn.execute(
            select(alerts.c.id, alerts.c.cleared_at, ticket_alerts.c.ticket_id)
            .outerjoin(ticket_alerts, ticket_alerts.c.alert_id == alerts.c.id)
            .where(alerts.c.state == AlertState.FIRING.value, alerts.c.cleared_at.is_not(None))
        )
        for pk, cleared_at, ticket_pk in list(rows):
            if not lifecycle.resolve_due(utc(cleared_at), now, self.sla.resolve_hold_s):
                continue
            conn.execute(
                update(alerts)
                .where(alerts.c.id == pk)
                .values(state=AlertState.RESOLVED.value, resolved_at=now, updated_at=now)
            )
            changes.alerts.add(pk)
            if ticket_pk is not None:
                note = f"alert {alert_ref(pk)} resolved: normal for {self.sla.resolve_hold_s:g} s"
                self.tickets.event(conn, ticket_pk, now, "alert_resolved", SYSTEM, note)
                changes.tickets.add(ticket_pk)

    # --- clocks -----------------------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Run the SLA clocks: escalate what ran out, resolve alerts normal for the hold period."""
        now = utc_now(now)
        with self._lock:
            changes = Changes()
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(sla_clocks)
                    .where(sla_clocks.c.stopped_at.is_(None), sla_clocks.c.next_fire_at <= now)
                    .order_by(sla_clocks.c.ticket_id)
                    .with_for_update()
                )
                due: dict[int, list[ClockState]] = {}
                for row in rows:
                    due.setdefault(row.ticket_id, []).append(_clock_state(row))
                for ticket_pk, states in due.items():
                    if self._escalate(conn, ticket_pk, states, now):
                        changes.tickets.add(ticket_pk)
                self._resolve_held(conn, now, changes)
            self._publish(changes, now)

    def _escalate(self, conn: Connection, ticket_pk: int, states: list[ClockState], now: datetime) -> bool:
        firings = lifecycle.due_firings(states, now, self.sla.escalation_repeat_s)
        if not firings:
            return False
        ticket = conn.execute(select(tickets).where(tickets.c.id == ticket_pk).with_for_update()).one()
        for firing in firings:
            conn.execute(
                update(sla_clocks)
                .where(sla_clocks.c.ticket_id == ticket_pk, sla_clocks.c.clock == firing.clock.value)
                .values(fired=sla_clocks.c.fired + 1, next_fire_at=firing.next_fire_at)
            )
        # Several clocks running out together make one escalation, named after the most serious one.
        worst = max(firings, key=lambda f: list(Clock).index(f.clock))
        step = ticket.escalation_step + 1
        conn.execute(
            update(tickets).where(tickets.c.id == ticket_pk).values(escalation_step=step, updated_at=now)
        )
        chain = self.site.escalation_chain()
        due_at = next(s.due_at for s in states if s.clock is worst.clock)
        ref = ticket_ref(ticket_pk)
        if not chain:
            self.tickets.event(
                conn, ticket_pk, now, "escalated", SYSTEM, f"{worst.reason.value}; nobody to tell"
            )
            return True
        person = chain[lifecycle.escalation_target(step, len(chain))]
        self.tickets.event(conn, ticket_pk, now, "escalated", SYSTEM, f"{worst.reason.value} → {person.name}")
        notice = Notice(
            kind=NoticeKind.ESCALATED,
            key=f"{ref}:escalate:{worst.clock.value}:{int(due_at.timestamp())}:{worst.index}",
            site=self.site.id,
            ticket_pk=ticket_pk,
            ticket=ref,
            asset=self.site.asset(ticket.asset),
            level=Level(ticket.level),
            summary=ticket.title,
            at=now,
            staff=(person,),
            detail={"reason": worst.reason.value, "step": step, "opened_at": utc(ticket.created_at) or now},
        )
        self.notifier.notify(conn, [notice], now)
        return True

    # --- people -----------------------------------------------------------------------------------------

    def act(self, ticket_id: str, request: ActionRequest, now: datetime) -> Ticket:
        pk = parse_ref(ticket_id, "T")
        if pk is None:
            raise NotFound(f"no ticket {ticket_id}")
        now = utc_now(now)
        with self._lock:
            changes = Changes(tickets={pk})
            with self.engine.begin() as conn:
                row = conn.execute(select(tickets).where(tickets.c.id == pk).with_for_update()).first()
                if row is None:
                    raise NotFound(f"no ticket {ticket_id}")
                changes.alerts |= self.tickets.act(conn, row, request, now)
                ticket = store.get_ticket(conn, pk)
            self._publish(changes, now)
            return ticket

    # --- queries (AlertsApi) ------------------------------------------------------------------------------

    def list_alerts(
        self,
        *,
        site: str | None = None,
        building: str | None = None,
        asset: str | None = None,
        level: Level | None = None,
        state: AlertState | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Alert]:
        # TODO(issue 6): building/since/until filters.
        with self.engine.connect() as conn:
            return store.list_alerts(
                conn, site=site, asset=asset, level=level, state=state, limit=limit, cursor=cursor
            )

    def get_alert(self, alert_id: str) -> Alert:
        with self.engine.connect() as conn:
            return store.get_alert_ref(conn, alert_id)

    def list_tickets(
        self,
        *,
        site: str | None = None,
        building: str | None = None,
        asset: str | None = None,
        state: TicketState | None = None,
        level: Level | None = None,
        source: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Ticket]:
        # TODO(issue 6): building/level/source/since/until filters.
        with self.engine.connect() as conn:
            return store.list_tickets(conn, site=site, asset=asset, state=state, limit=limit, cursor=cursor)

    def get_ticket(self, ticket_id: str) -> Ticket:
        pk = parse_ref(ticket_id, "T")
        if pk is None:
            raise NotFound(f"no ticket {ticket_id}")
        with self.engine.connect() as conn:
            return store.get_ticket(conn, pk)

    # --- contract for issue 6 / issue 8 (alerts.ports.AlertsApi); to be implemented ----------------------

    def acknowledge_alert(self, alert_id: str, actor: str, now: datetime) -> Alert:
        raise NotImplementedError

    def silence_alert(
        self, alert_id: str, *, until: datetime, reason: str, actor: str, now: datetime
    ) -> Alert:
        raise NotImplementedError

    def open_owner_ticket(self, report: OwnerReport, now: datetime) -> Ticket:
        raise NotImplementedError

    def sla_report(self, *, site: str | None, since: datetime, until: datetime) -> list[SlaFigures]:
        raise NotImplementedError

    def incident_report(
        self, *, site: str | None, since: datetime, until: datetime, period: str = "month"
    ) -> list[IncidentCount]:
        raise NotImplementedError

    # --- events -----------------------------------------------------------------------------------------

    def _publish(self, changes: Changes, now: datetime) -> None:
        if not changes.alerts and not changes.tickets:
            return
        with self.engine.connect() as conn:
            for pk in sorted(changes.alerts):
                self.bus.publish("alert", store.alert_json(store.get_alert(conn, pk)), now)
            for pk in sorted(changes.tickets):
                self.bus.publish("ticket", store.ticket_json(store.get_ticket(conn, pk)), now)


def _clock_state(row: Any) -> ClockState:
    return ClockState(
        clock=Clock(row.clock),
        due_at=utc(row.due_at) or utc_now(row.due_at),
        next_fire_at=utc(row.next_fire_at) or utc_now(row.next_fire_at),
        fired=row.fired,
        stopped_at=utc(row.stopped_at),
    )


__all__ = ["AlertService"]
