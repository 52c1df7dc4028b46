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
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from alerts.detection.rules import Rules
from alerts.engine import lifecycle, reports, store
from alerts.engine.alerting import AlertWriter, Changes
from alerts.engine.db import (
    alerts,
    parse_ref,
    sla_clocks,
    ticket_alerts,
    ticket_ref,
    tickets,
    utc,
    utc_now,
)
from alerts.engine.errors import NotFound
from alerts.engine.events import EventBus
from alerts.engine.inhibit import Motion
from alerts.engine.intake import Judgement, Late
from alerts.engine.lifecycle import Clock, ClockState
from alerts.engine.notices import Notice, NoticeKind, Notifier
from alerts.engine.ports import ActionRequest, IncidentCount, OwnerReport, SlaFigures
from alerts.engine.tickets import TicketWriter
from alerts.notify.outbox import OutboxNotifier
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
    TicketAction,
    TicketState,
    ms_from_utc,
    utc_from_ms,
)

SYSTEM = "system"


class AlertService:
    """Implements ``alerts.engine.ports.AlertsApi`` on the state database."""

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
        self.motion = Motion()
        self.tickets = TicketWriter(site, sla, self.notifier)
        self.alerts = AlertWriter(site, sla, self.tickets, self.motion)
        self._lock = threading.Lock()
        self._judging = threading.Lock()
        """The rules' in-memory state: never held across a database call."""

    # --- readings ---------------------------------------------------------------------------------------

    def observe(self, readings: Sequence[Reading], now: datetime | None = None) -> None:
        """Run the rules on a durable batch and apply their findings at the readings' own time.

        ``now`` is the wall clock when the batch arrived: readings older than the site's ``lateness_s``
        are a replay, whose conditions that cleared long ago are recorded but not dispatched. Without it
        the batch is taken as current. The same as ``commit(judge(readings, now))``.
        """
        judgement = self.judge(readings, now)
        if judgement is not None:
            self.commit(judgement)

    def judge(self, readings: Sequence[Reading], now: datetime | None = None) -> Judgement | None:
        """Run the rules on a batch in memory (no database): the findings it causes, to ``commit`` later.

        Judging never waits for the state database (it has its own lock), so detection keeps up while the
        database is slow or gone; the caller keeps the judgement durable until it is committed.
        None for an empty batch.
        """
        if not readings:
            return None
        latest: dict[str, int] = {}
        for r in readings:
            latest[r.asset] = max(r.ts_ms, latest.get(r.asset, r.ts_ms))
        with self._judging:
            self.motion.observe(readings)
            findings = tuple(self.rules.observe(readings))
        wall = None if now is None else ms_from_utc(utc_now(now))
        return Judgement(findings, max(latest.values()), wall, tuple(sorted(latest.items())))

    def commit(self, judgement: Judgement, late: Late | None = None) -> None:
        """Apply a judgement's findings in one transaction, at its event time and with its wall clock.

        ``late``: why it is committed late (the state database was unreachable); each ticket it opens or
        joins gets a timeline entry saying so. Raises whatever the database raises: nothing is applied.
        """
        wall = None if judgement.wall_ms is None else utc_from_ms(judgement.wall_ms)
        with self._lock:
            if judgement.latest:
                self.alerts.seen(dict(judgement.latest), wall)
            self._take(judgement.findings, utc_from_ms(judgement.event_ms), wall, late)

    def observe_findings(self, findings: Sequence[Finding], now: datetime | None = None) -> None:
        """Findings from outside the rules: device presence and the data path (gateway), undelivered RED
        notifications (dispatcher). Applied like the rules' own, at their event time."""
        if not findings:
            return
        with self._lock:
            self._take(findings, utc_from_ms(max(f.ts_ms for f in findings)), now)

    def _take(
        self,
        findings: Sequence[Finding],
        event_now: datetime,
        now: datetime | None,
        late: Late | None = None,
    ) -> None:
        wall = None if now is None else utc_now(now)
        changes = Changes()
        with self.engine.begin() as conn:
            for finding in sorted(findings, key=lambda f: f.ts_ms):
                self.alerts.apply(conn, finding, changes, wall)
            self.alerts.promote_pending(conn, event_now, wall, changes)
            # A late commit: the tickets that alerts opened or joined just now (not those resolved below).
            if late is not None:
                for ticket_pk in sorted(changes.tickets):
                    self.tickets.event(conn, ticket_pk, utc_now(late.at), "opened_late", SYSTEM, late.reason)
            self.alerts.resolve_held(conn, event_now, changes)
        self._publish(changes, event_now)

    # --- clocks -----------------------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Run the clocks: escalate what ran out (again every ``escalation_repeat_s`` until someone acts),
        open pending alerts that have held, resolve alerts normal for their hold, close resolved tickets
        whose asset stayed normal for ``close_hold_s``, and ask the owners a day after resolution."""
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
                self.alerts.promote_pending(conn, now, now, changes)
                self.alerts.resolve_held(conn, now, changes)
                self._close_quiet(conn, now, changes)
                self._follow_up(conn, now, changes)
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
        silence = self._silenced(conn, ticket_pk, now)
        if silence is not None:
            note = f"{worst.reason.value} → {person.name}; not notified: silenced until {silence.isoformat()}"
            self.tickets.event(conn, ticket_pk, now, "escalated", SYSTEM, note)
            return True
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

    def _close_quiet(self, conn: Connection, now: datetime, changes: Changes) -> None:
        """Close resolved tickets once nothing of theirs fires and the asset stayed normal for the hold."""
        hold = timedelta(seconds=self.site.alerts.close_hold_s)
        rows = conn.execute(
            select(tickets).where(
                tickets.c.site == self.site.id,
                tickets.c.state == TicketState.RESOLVED.value,
                tickets.c.resolved_at <= now - hold,
            )
        )
        for row in list(rows):
            linked = list(
                conn.execute(
                    select(alerts.c.state, func.coalesce(alerts.c.cleared_at, alerts.c.resolved_at))
                    .join(ticket_alerts, ticket_alerts.c.alert_id == alerts.c.id)
                    .where(ticket_alerts.c.ticket_id == row.id)
                )
            )
            if any(state == AlertState.FIRING.value for state, _ in linked):
                continue
            normal_since = max([utc(row.resolved_at)] + [utc(at) for _, at in linked], key=_key)
            if normal_since is not None and now - normal_since < hold:
                continue
            request = ActionRequest(TicketAction.CLOSE, SYSTEM, note=f"normal for {hold.total_seconds():g} s")
            locked = conn.execute(select(tickets).where(tickets.c.id == row.id).with_for_update()).one()
            changes.alerts |= self.tickets.act(conn, locked, request, now)
            changes.tickets.add(row.id)

    def _follow_up(self, conn: Connection, now: datetime, changes: Changes) -> None:
        """The day after resolution: a FOLLOW_UP notice (the owners are asked whether all is well)."""
        rows = conn.execute(
            select(tickets).where(
                tickets.c.site == self.site.id,
                tickets.c.follow_up_due <= now,
                tickets.c.state.in_([TicketState.RESOLVED.value, TicketState.CLOSED.value]),
            )
        )
        for row in list(rows):
            ref = ticket_ref(row.id)
            due = utc(row.follow_up_due) or now
            conn.execute(update(tickets).where(tickets.c.id == row.id).values(follow_up_due=None))
            self.tickets.event(conn, row.id, now, "follow_up", SYSTEM, "follow-up with the owners is due")
            notice = Notice(
                kind=NoticeKind.FOLLOW_UP,
                key=f"{ref}:follow_up:{int(due.timestamp())}",
                site=self.site.id,
                ticket_pk=row.id,
                ticket=ref,
                asset=self.site.asset(row.asset),
                level=Level(row.level),
                summary=row.title,
                at=now,
                staff=self.tickets.staff(self.site.asset(row.asset), row.building, now),
                detail={
                    "resolved_at": utc(row.resolved_at),
                    "source": row.source,
                    "building": row.building,
                    "opened_at": utc(row.created_at),
                },
            )
            self.notifier.notify(conn, [notice], now)
            changes.tickets.add(row.id)

    def _silenced(self, conn: Connection, ticket_pk: int, now: datetime) -> datetime | None:
        """When every firing alert of the ticket is silenced past ``now``: the earliest end; else None."""
        rows = list(
            conn.execute(
                select(alerts.c.silenced_until)
                .join(ticket_alerts, ticket_alerts.c.alert_id == alerts.c.id)
                .where(ticket_alerts.c.ticket_id == ticket_pk, alerts.c.state == AlertState.FIRING.value)
            )
        )
        ends = [utc(r.silenced_until) for r in rows]
        if not ends or any(end is None or end <= now for end in ends):
            return None
        return min(end for end in ends if end is not None)

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
        with self.engine.connect() as conn:
            return store.list_alerts(
                conn,
                site=site,
                building=building,
                asset=asset,
                level=level,
                state=state,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
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
        with self.engine.connect() as conn:
            return store.list_tickets(
                conn,
                site=site,
                building=building,
                asset=asset,
                state=state,
                level=level,
                source=source,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
            )

    def get_ticket(self, ticket_id: str) -> Ticket:
        pk = parse_ref(ticket_id, "T")
        if pk is None:
            raise NotFound(f"no ticket {ticket_id}")
        with self.engine.connect() as conn:
            return store.get_ticket(conn, pk)

    def acknowledge_alert(self, alert_id: str, actor: str, now: datetime) -> Alert:
        """Acknowledge the alert; an open ticket of it is acknowledged too (its acknowledge clock stops).
        Acknowledging twice keeps the first acknowledgement."""
        pk = parse_ref(alert_id, "A")
        if pk is None:
            raise NotFound(f"no alert {alert_id}")
        now = utc_now(now)
        with self._lock:
            changes = Changes(alerts={pk})
            with self.engine.begin() as conn:
                alert = store.get_alert(conn, pk)
                ticket_pk = None if alert.ticket_id is None else parse_ref(alert.ticket_id, "T")
                ticket = None
                if ticket_pk is not None:
                    ticket = conn.execute(
                        select(tickets).where(tickets.c.id == ticket_pk).with_for_update()
                    ).one()
                if ticket is not None and TicketState(ticket.state) in (
                    TicketState.OPEN,
                    TicketState.REOPENED,
                ):
                    request = ActionRequest(TicketAction.ACKNOWLEDGE, actor, note=f"via alert {alert_id}")
                    changes.alerts |= self.tickets.act(conn, ticket, request, now)
                    changes.tickets.add(ticket.id)
                elif alert.acknowledged_at is None:
                    conn.execute(
                        update(alerts)
                        .where(alerts.c.id == pk)
                        .values(acknowledged_at=now, acknowledged_by=actor, updated_at=now)
                    )
                    if ticket is not None:
                        self.tickets.event(conn, ticket.id, now, "alert_acknowledged", actor, alert_id)
                        changes.tickets.add(ticket.id)
                result = store.get_alert(conn, pk)
            self._publish(changes, now)
            return result

    def silence_alert(
        self, alert_id: str, *, until: datetime, reason: str, actor: str, now: datetime
    ) -> Alert:
        """Nobody is notified of this alert's ticket (escalations included) until ``until``; the silence
        and everything that happens meanwhile stay on the ticket's timeline."""
        pk = parse_ref(alert_id, "A")
        if pk is None:
            raise NotFound(f"no alert {alert_id}")
        now, until = utc_now(now), utc_now(until)
        if until <= now:
            raise ValueError("a silence must end in the future")
        if not reason.strip():
            raise ValueError("a silence needs a reason")
        with self._lock:
            changes = Changes(alerts={pk})
            with self.engine.begin() as conn:
                alert = store.get_alert(conn, pk)
                conn.execute(
                    update(alerts)
                    .where(alerts.c.id == pk)
                    .values(
                        silenced_until=until, silence_reason=reason.strip(), silenced_by=actor, updated_at=now
                    )
                )
                if alert.ticket_id is not None:
                    ticket_pk = parse_ref(alert.ticket_id, "T")
                    assert ticket_pk is not None
                    note = f"{alert_id} silenced until {until.isoformat()}: {reason.strip()}"
                    self.tickets.event(conn, ticket_pk, now, "silenced", actor, note)
                    changes.tickets.add(ticket_pk)
                result = store.get_alert(conn, pk)
            self._publish(changes, now)
            return result

    def open_owner_ticket(self, report: OwnerReport, now: datetime) -> Ticket:
        now = utc_now(now)
        if report.site != self.site.id:
            raise ValueError(f"unknown site {report.site!r}")
        with self._lock:
            with self.engine.begin() as conn:
                pk = self.tickets.open_owner(conn, report, now)
                ticket = store.get_ticket(conn, pk)
            self._publish(Changes(tickets={pk}), now)
            return ticket

    def sla_report(self, *, site: str | None, since: datetime, until: datetime) -> list[SlaFigures]:
        with self.engine.connect() as conn:
            return reports.sla_figures(conn, site=site, since=utc_now(since), until=utc_now(until))

    def incident_report(
        self, *, site: str | None, since: datetime, until: datetime, period: str = "month"
    ) -> list[IncidentCount]:
        with self.engine.connect() as conn:
            return reports.incident_counts(
                conn,
                site=site,
                since=utc_now(since),
                until=utc_now(until),
                period=period,
                timezone=self.site.timezone,
            )

    # --- events -----------------------------------------------------------------------------------------

    def _publish(self, changes: Changes, now: datetime) -> None:
        if not changes.alerts and not changes.tickets:
            return
        with self.engine.connect() as conn:
            for pk in sorted(changes.alerts):
                self.bus.publish("alert", store.alert_json(store.get_alert(conn, pk)), now)
            for pk in sorted(changes.tickets):
                self.bus.publish("ticket", store.ticket_json(store.get_ticket(conn, pk)), now)


def _key(when: datetime | None) -> datetime:
    return when or datetime.min.replace(tzinfo=UTC)


def _clock_state(row: Any) -> ClockState:
    return ClockState(
        clock=Clock(row.clock),
        due_at=utc(row.due_at) or utc_now(row.due_at),
        next_fire_at=utc(row.next_fire_at) or utc_now(row.next_fire_at),
        fired=row.fired,
        stopped_at=utc(row.stopped_at),
    )


__all__ = ["AlertService"]
