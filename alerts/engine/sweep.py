"""The clocks' sweep (``AlertService.tick``), inside the caller's transaction: escalate the SLA clocks that
ran out (again every ``escalation_repeat_s`` until someone acts), open pending alerts that have held,
resolve alerts normal for their hold, close resolved tickets whose asset stayed normal for
``close_hold_s``, and ask the owners a day after resolution once the alert has held clear.

Every decision comes from a pure module: the clocks (``alerts.engine.clocks``), silences
(``alerts.engine.conditions``) and the ticket lifecycle (``alerts.engine.lifecycle``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update

from alerts.engine import clocks, conditions, lifecycle
from alerts.engine.alerting import AlertWriter, Changes
from alerts.engine.clocks import Clock, ClockState
from alerts.engine.db import alerts, sla_clocks, ticket_alerts, ticket_ref, tickets, utc, utc_now
from alerts.engine.notices import Notice, NoticeKind, Notifier
from alerts.engine.ports import ActionRequest
from alerts.engine.tickets import SYSTEM, TicketWriter
from facwatch.config import SlaSettings
from facwatch.model import AlertState, Level, Site, TicketAction, TicketState


class Sweeper:
    def __init__(
        self, site: Site, sla: SlaSettings, tickets: TicketWriter, alerts: AlertWriter, notifier: Notifier
    ) -> None:
        self.site = site
        self.sla = sla
        self.tickets = tickets
        self.alerts = alerts
        self.notifier = notifier

    def run(self, conn: Connection, now: datetime, changes: Changes) -> None:
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
        self.alerts.recheck()
        self.alerts.promote_pending(conn, now, now, changes)
        self.alerts.resolve_held(conn, now, changes)
        self._close_quiet(conn, now, changes)
        self._follow_up(conn, now, changes)

    def _escalate(self, conn: Connection, ticket_pk: int, states: list[ClockState], now: datetime) -> bool:
        firings = clocks.due_firings(states, now, self.sla.escalation_repeat_s)
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
        person = chain[clocks.escalation_target(step, len(chain))]
        silence = self._silenced(conn, ticket_pk, now)
        notify, why = conditions.decide_silence(Level(ticket.level), silence, now)
        note = f"{worst.reason.value} → {person.name}"
        if silence is not None:
            note += f"; {why.value} (silenced until {silence.isoformat()})"
        self.tickets.event(conn, ticket_pk, now, "escalated", SYSTEM, note)
        if not notify:
            return True
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
            detail={
                "reason": worst.reason.value,
                "step": step,
                "opened_at": utc(ticket.created_at) or now,
                "finding": ticket.kind,  # the words of the escalation (alerts/notify/findings.py)
                "source": ticket.source,
            },
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
            facts = lifecycle.QuietFacts(
                resolved_at=utc(row.resolved_at),
                firing=sum(state == AlertState.FIRING.value for state, _ in linked),
                normal_since=tuple(utc(at) for _, at in linked),
                close_hold_s=hold.total_seconds(),
            )
            close, _reason = lifecycle.decide_close(facts, now)
            if not close:
                continue
            request = ActionRequest(TicketAction.CLOSE, SYSTEM, note=f"normal for {hold.total_seconds():g} s")
            locked = conn.execute(select(tickets).where(tickets.c.id == row.id).with_for_update()).one()
            changes.alerts |= self.tickets.act(conn, locked, request, now)
            changes.tickets.add(row.id)

    def _follow_up(self, conn: Connection, now: datetime, changes: Changes) -> None:
        """The day after resolution: a FOLLOW_UP notice (the owners are asked whether all is well), once
        none of the ticket's alerts fires any more (each has been normal for its hold)."""
        rows = conn.execute(
            select(tickets).where(
                tickets.c.site == self.site.id,
                tickets.c.follow_up_due <= now,
                tickets.c.state.in_([TicketState.RESOLVED.value, TicketState.CLOSED.value]),
            )
        )
        for row in list(rows):
            facts = lifecycle.QuietFacts(
                resolved_at=utc(row.resolved_at),
                firing=self._firing_count(conn, row.id),
                follow_up_due=utc(row.follow_up_due),
            )
            ask, _reason = lifecycle.decide_follow_up(facts, now)
            if not ask:
                continue  # not yet: the owners are asked once the alert has been normal for its hold
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

    def _firing_count(self, conn: Connection, ticket_pk: int) -> int:
        """How many of the ticket's alerts fire (normal again but within their hold included)."""
        return int(
            conn.execute(
                select(func.count())
                .select_from(alerts)
                .join(ticket_alerts, ticket_alerts.c.alert_id == alerts.c.id)
                .where(ticket_alerts.c.ticket_id == ticket_pk, alerts.c.state == AlertState.FIRING.value)
            ).scalar_one()
        )

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


def _clock_state(row: Any) -> ClockState:
    return ClockState(
        clock=Clock(row.clock),
        due_at=utc(row.due_at) or utc_now(row.due_at),
        next_fire_at=utc(row.next_fire_at) or utc_now(row.next_fire_at),
        fired=row.fired,
        stopped_at=utc(row.stopped_at),
    )
