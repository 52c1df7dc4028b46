"""Writing tickets: open or join one for a new alert, record timeline events, apply people's actions.

Runs inside the caller's transaction (``AlertService``); every decision comes from ``alerts.lifecycle``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from alerts import lifecycle
from alerts.db import alert_ref, alerts, new_pk, sla_clocks, ticket_alerts, ticket_events, ticket_ref, tickets
from alerts.lifecycle import STOPS, Clock
from alerts.notices import Notice, NoticeKind, Notifier
from alerts.ports import ActionRequest
from facwatch.config import SlaSettings
from facwatch.model import Asset, Deadlines, Finding, Level, Site, TicketAction, TicketState

SYSTEM = "system"


class TicketWriter:
    def __init__(self, site: Site, sla: SlaSettings, notifier: Notifier) -> None:
        self.site = site
        self.sla = sla
        self.notifier = notifier

    def event(
        self, conn: Connection, ticket_pk: int, ts: datetime, action: str, actor: str, note: str
    ) -> None:
        conn.execute(
            insert(ticket_events).values(ticket_id=ticket_pk, ts=ts, action=action, actor=actor, note=note)
        )

    # --- alerts open or join tickets ------------------------------------------------------------------

    def open_or_join(
        self, conn: Connection, alert_pk: int, finding: Finding, asset: Asset, when: datetime
    ) -> int:
        """Link the new alert to a ticket (joined, reopened or new) and notify; returns the ticket's pk."""
        active = [s.value for s in lifecycle.ACTIVE_TICKET_STATES]
        row = conn.execute(
            select(tickets)
            .where(tickets.c.site == finding.site, tickets.c.asset == asset.id, tickets.c.state.in_(active))
            .order_by(tickets.c.id.desc())
            .limit(1)
            .with_for_update()
        ).first()
        level = finding.level
        if row is not None:
            pk = int(row.id)
            note = f"alert {alert_ref(alert_pk)} joined: {finding.summary}"
            self.event(conn, pk, when, "alert_joined", SYSTEM, note)
            if level.rank < Level(row.level).rank:  # a worse alert brings its level and its clocks
                self._set_clocks(conn, pk, lifecycle.deadlines(level, when, self.sla), when, level)
        else:
            resolved = conn.execute(
                select(tickets.c.id)
                .where(
                    tickets.c.site == finding.site,
                    tickets.c.asset == asset.id,
                    tickets.c.kind == finding.kind,
                    tickets.c.state == TicketState.RESOLVED.value,
                )
                .order_by(tickets.c.id.desc())
                .limit(1)
            ).first()
            if resolved is not None:
                pk = int(resolved.id)
                state = lifecycle.next_state(TicketState.RESOLVED, TicketAction.REOPEN)
                conn.execute(
                    update(tickets).where(tickets.c.id == pk).values(state=state.value, resolved_at=None)
                )
                self.event(conn, pk, when, "reopened", SYSTEM, f"recurred: {finding.summary}")
            else:
                pk = self._insert(conn, finding, asset, when)
                self.event(conn, pk, when, "opened", SYSTEM, finding.summary)
            self._set_clocks(conn, pk, lifecycle.deadlines(level, when, self.sla), when, level)
        conn.execute(insert(ticket_alerts).values(ticket_id=pk, alert_id=alert_pk))
        self._notify_open(conn, pk, alert_pk, finding, asset, when)
        return pk

    def _insert(self, conn: Connection, finding: Finding, asset: Asset, when: datetime) -> int:
        return new_pk(
            conn.execute(
                insert(tickets).values(
                    site=finding.site,
                    asset=asset.id,
                    building=asset.building,
                    kind=finding.kind,
                    level=finding.level.value,
                    state=TicketState.OPEN.value,
                    title=f"{asset.name}: {finding.summary}",
                    created_at=when,
                    updated_at=when,
                    escalation_step=0,
                )
            )
        )

    def _set_clocks(self, conn: Connection, pk: int, due: Deadlines, when: datetime, level: Level) -> None:
        conn.execute(
            update(tickets)
            .where(tickets.c.id == pk)
            .values(
                level=level.value,
                ack_due=due.acknowledge,
                on_site_due=due.on_site,
                fixed_due=due.fixed,
                updated_at=when,
            )
        )
        conn.execute(delete(sla_clocks).where(sla_clocks.c.ticket_id == pk))
        for clock, at in (
            (Clock.ACKNOWLEDGE, due.acknowledge),
            (Clock.ON_SITE, due.on_site),
            (Clock.FIXED, due.fixed),
        ):
            if at is not None:
                conn.execute(
                    insert(sla_clocks).values(
                        ticket_id=pk, clock=clock.value, due_at=at, next_fire_at=at, fired=0
                    )
                )

    def _notify_open(
        self, conn: Connection, pk: int, alert_pk: int, finding: Finding, asset: Asset, when: datetime
    ) -> None:
        ref, aref = ticket_ref(pk), alert_ref(alert_pk)
        row = conn.execute(select(tickets.c.ack_due, tickets.c.on_site_due).where(tickets.c.id == pk)).one()
        chain = self.site.escalation_chain()
        notice = Notice(
            kind=NoticeKind.OPENED,
            key=f"{ref}:{aref}",
            site=self.site.id,
            ticket_pk=pk,
            ticket=ref,
            asset=asset,
            level=finding.level,
            summary=finding.summary,
            at=when,
            staff=tuple(chain[:1]),
            detail={"alert": aref, "ack_due": row.ack_due, "on_site_due": row.on_site_due, "opened_at": when},
        )
        self.notifier.notify(conn, [notice], when)

    # --- people act -------------------------------------------------------------------------------------

    def act(self, conn: Connection, row: Any, request: ActionRequest, now: datetime) -> set[int]:
        """Apply ``request`` to the locked ticket ``row``; returns the alerts it changed."""
        state = lifecycle.next_state(TicketState(row.state), request.action)
        action = request.action
        values: dict[str, object] = {"state": state.value, "updated_at": now}
        notes = [request.note] if request.note else []
        if action is TicketAction.CHECK_IN:
            asset = self.site.asset(row.asset)
            lifecycle.check_in(asset.checkin_code if asset else "", request.checkin_code)
            values["on_site_at"] = now
        if action is TicketAction.PROGRESS and request.percent is not None:
            if not 0 <= request.percent <= 100:
                raise ValueError("percent must be between 0 and 100")
            notes.append(f"{request.percent:g} % done")
        if action is TicketAction.DISPATCH:
            values["assignee"] = request.assignee or request.actor
            notes.append(f"assigned to {values['assignee']}")
        if request.eta is not None:
            notes.append(f"ETA {request.eta.isoformat()}")
        if action is TicketAction.RESOLVE:
            values["resolved_at"] = now
        if action is TicketAction.REOPEN:
            values["resolved_at"] = None
        acknowledging = action in (TicketAction.ACKNOWLEDGE, TicketAction.DISPATCH, TicketAction.CHECK_IN)
        if acknowledging and row.acknowledged_at is None:
            values["acknowledged_at"] = now
        conn.execute(update(tickets).where(tickets.c.id == row.id).values(**values))
        stops = STOPS.get(action, frozenset())
        if stops:
            conn.execute(
                update(sla_clocks)
                .where(
                    sla_clocks.c.ticket_id == row.id,
                    sla_clocks.c.clock.in_([c.value for c in stops]),
                    sla_clocks.c.stopped_at.is_(None),
                )
                .values(stopped_at=now)
            )
        self.event(conn, row.id, now, action.value, request.actor, "; ".join(notes))
        changed: set[int] = set()
        if acknowledging:
            linked = select(ticket_alerts.c.alert_id).where(ticket_alerts.c.ticket_id == row.id)
            result = conn.execute(
                update(alerts)
                .where(alerts.c.id.in_(linked), alerts.c.acknowledged_at.is_(None))
                .values(acknowledged_at=now, acknowledged_by=request.actor, updated_at=now)
                .returning(alerts.c.id)
            )
            changed = {r[0] for r in result}
        return changed
