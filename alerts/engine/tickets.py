"""Writing tickets: open or join one for a new alert, record timeline events, apply people's actions.

Runs inside the caller's transaction (``AlertService``); every decision comes from ``alerts.engine.lifecycle``.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from alerts.engine import arrival_db, clocks, lifecycle, rota
from alerts.engine.clocks import Clock
from alerts.engine.db import (
    alert_ref,
    alerts,
    new_pk,
    sla_clocks,
    ticket_alerts,
    ticket_events,
    ticket_ref,
    tickets,
    utc,
)
from alerts.engine.errors import CheckInRefused, TooManyCheckIns
from alerts.engine.inhibit import POSSIBLE_ENTRAPMENT
from alerts.engine.maintenance_arrival import Signs
from alerts.engine.notices import Notice, NoticeKind, Notifier
from alerts.engine.policy import PREDICTED_SUFFIX, RECURRENCE_SUFFIX
from alerts.engine.ports import ActionRequest
from facwatch.config import SlaSettings
from facwatch.model import (
    AlertState,
    Asset,
    Deadlines,
    Finding,
    Level,
    Person,
    Site,
    TicketAction,
    TicketState,
)

SYSTEM = "system"
CHECKIN_REFUSED = "checkin_refused"
"""Timeline action of a wrong check-in code (they count towards the check-in lock)."""
CHECKIN_BLOCKED = "checkin_blocked"
"""Timeline action of a check-in refused while check-ins wait (too many wrong codes)."""
OWNER_LEVEL = Level.ORANGE
"""Owner reports are ORANGE: somebody must answer within the owner acknowledge clock (10 minutes)."""
MANUAL_SUFFIXES = (RECURRENCE_SUFFIX, PREDICTED_SUFFIX, POSSIBLE_ENTRAPMENT)
"""Alert kinds that no sensor clears: they resolve with their ticket."""


class TicketWriter:
    def __init__(self, site: Site, sla: SlaSettings, notifier: Notifier) -> None:
        self.site = site
        self.sla = sla
        self.notifier = notifier
        self.signs: Signs | None = None
        """Arrival evidence from the sensors (``AlertService`` hands its own)."""

    def event(
        self, conn: Connection, ticket_pk: int, ts: datetime, action: str, actor: str, note: str
    ) -> int:
        """Add a timeline entry (the audit trail: what, who, when); returns its id."""
        return new_pk(
            conn.execute(
                insert(ticket_events).values(
                    ticket_id=ticket_pk, ts=ts, action=action, actor=actor, note=note
                )
            )
        )

    # --- alerts open or join tickets ------------------------------------------------------------------

    def open_or_join(
        self,
        conn: Connection,
        alert_pk: int,
        finding: Finding,
        asset: Asset,
        when: datetime,
        *,
        own: Deadlines | None = None,
    ) -> int:
        """Link the new alert to a ticket (joined, reopened or new) and notify; returns the ticket's pk.

        An alert joins the open ticket of its asset (one visit fixes both), except a rectification task:
        with ``own`` deadlines it gets a ticket of its own (or reopens its resolved one), and sensor alerts
        never join a rectification ticket.
        """
        active = [s.value for s in lifecycle.ACTIVE_TICKET_STATES]
        row = None
        if own is None:
            row = conn.execute(
                select(tickets)
                .where(
                    tickets.c.site == finding.site,
                    tickets.c.asset == asset.id,
                    tickets.c.state.in_(active),
                    tickets.c.kind.not_like(f"%{RECURRENCE_SUFFIX}"),
                )
                .order_by(tickets.c.id.desc())
                .limit(1)
                .with_for_update()
            ).first()
        level = finding.level
        planned, why = (None, None) if row is not None else rota.plan_work(self.site, level, when)
        due = own or clocks.deadlines(level, planned or when, self.sla)
        if row is not None:
            pk = int(row.id)
            note = f"alert {alert_ref(alert_pk)} joined: {finding.summary}"
            self.event(conn, pk, when, "alert_joined", SYSTEM, note)
            if level.rank < Level(row.level).rank:  # a worse alert brings its level and its clocks
                self.set_clocks(conn, pk, due, when, level)
                if level not in rota.DAY_WORK:  # urgent now: it no longer waits for day hours
                    conn.execute(update(tickets).where(tickets.c.id == pk).values(planned_at=None))
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
                    update(tickets)
                    .where(tickets.c.id == pk)
                    .values(state=state.value, resolved_at=None, follow_up_due=None, progress_percent=None)
                )
                self.event(conn, pk, when, "reopened", SYSTEM, f"recurred: {finding.summary}")
            else:
                pk = self._insert(conn, finding, asset, when)
                self.event(conn, pk, when, "opened", SYSTEM, finding.summary)
            self.set_clocks(conn, pk, due, when, level)
            conn.execute(update(tickets).where(tickets.c.id == pk).values(planned_at=planned))
            if planned is not None and why is not None:
                self.event(conn, pk, when, "planned", SYSTEM, f"{why.value}: {planned.isoformat()}")
        conn.execute(insert(ticket_alerts).values(ticket_id=pk, alert_id=alert_pk))
        self._notify_open(conn, pk, alert_pk, finding, asset, when, planned)
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

    def staff(self, asset: Asset | None, building: str, when: datetime) -> tuple[Person, ...]:
        """Who hears of a new ticket first: the on-call person by the rota (alerts/engine/rota.py)."""
        person = rota.on_call(self.site, building, None if asset is None else asset.kind, when)
        return () if person is None else (person,)

    def set_clocks(self, conn: Connection, pk: int, due: Deadlines, when: datetime, level: Level) -> None:
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
        self,
        conn: Connection,
        pk: int,
        alert_pk: int,
        finding: Finding,
        asset: Asset,
        when: datetime,
        planned: datetime | None = None,
    ) -> None:
        """Tell the on-call person (at ``planned``, the day person, for non-urgent work created at night)."""
        ref, aref = ticket_ref(pk), alert_ref(alert_pk)
        row = conn.execute(
            select(
                tickets.c.ack_due, tickets.c.on_site_due, tickets.c.acknowledged_at, tickets.c.on_site_at
            ).where(tickets.c.id == pk)
        ).one()
        notice = Notice(
            kind=NoticeKind.OPENED,
            key=f"{ref}:{aref}",
            site=self.site.id,
            ticket_pk=pk,
            ticket=ref,
            asset=asset,
            level=finding.level,
            summary=finding.summary,
            at=planned or when,
            staff=self.staff(asset, asset.building, planned or when),
            detail={
                "alert": aref,
                "finding": finding.kind,
                "ack_due": row.ack_due,
                "on_site_due": row.on_site_due,
                "acknowledged_at": row.acknowledged_at,  # an alert joining a ticket someone already took
                "on_site_at": row.on_site_at,
                "opened_at": when,
                "channel": finding.channel,
                "value": finding.value,
                "readings": _readings(finding),
                "facts": dict(finding.detail),  # a prediction's or a recurrence's figures, for the words
            },
        )
        self.notifier.notify(conn, [notice], when)

    # --- people act -------------------------------------------------------------------------------------

    def act(self, conn: Connection, row: Any, request: ActionRequest, now: datetime) -> set[int]:
        """Apply ``request`` to the locked ticket ``row``; returns the alerts it changed.

        ``alerts.engine.lifecycle.decide`` checks everything before the first write, so a refused action
        changes nothing.
        """
        facts = self._facts(conn, row, request, now)
        change, _reason = lifecycle.decide(facts, request, now)
        return self.store_change(conn, row, request, with_cost(change, request, row.cost), now)

    def _facts(
        self, conn: Connection, row: Any, request: ActionRequest, now: datetime
    ) -> lifecycle.TicketFacts:
        """What ``lifecycle.decide`` needs to know of the ticket (queries only what the action needs)."""
        asset = self.site.asset(row.asset)
        firing: tuple[str, ...] = ()
        if request.action in lifecycle.OVERRIDABLE:
            linked = select(ticket_alerts.c.alert_id).where(ticket_alerts.c.ticket_id == row.id)
            rows = conn.execute(
                select(alerts.c.id, alerts.c.kind)
                .where(
                    alerts.c.id.in_(linked),
                    alerts.c.state == AlertState.FIRING.value,
                    alerts.c.cleared_at.is_(None),
                )
                .order_by(alerts.c.id)
            )
            firing = tuple(
                f"{alert_ref(r.id)} {r.kind}" for r in rows if not str(r.kind).endswith(MANUAL_SUFFIXES)
            )
        by_actor: list[datetime] = []
        on_ticket: list[datetime] = []
        if request.action is TicketAction.CHECK_IN:
            since = now - timedelta(seconds=lifecycle.CHECKIN_LOOKBACK_S)
            refusals = conn.execute(
                select(ticket_events.c.ts, ticket_events.c.ticket_id, ticket_events.c.actor).where(
                    ticket_events.c.action == CHECKIN_REFUSED,
                    ticket_events.c.ts > since,
                    or_(ticket_events.c.ticket_id == row.id, ticket_events.c.actor == request.actor),
                )
            )
            for ts, ticket_id, actor in refusals:
                if (t := utc(ts)) is None:
                    continue
                if actor == request.actor:
                    by_actor.append(t)
                if ticket_id == row.id:
                    on_ticket.append(t)
        return lifecycle.TicketFacts(
            state=TicketState(row.state),
            acknowledged=row.acknowledged_at is not None,
            checkin_code=asset.checkin_code if asset else "",
            firing=firing,
            wrong_codes=tuple(by_actor),
            wrong_on_ticket=tuple(on_ticket),
            sign=arrival_db.newest(conn, self.site.id, row.asset, self.signs, now),
            companies=frozenset(c.id for c in self.site.maintenance.companies),
        )

    def refused(
        self, conn: Connection, ticket_pk: int, request: ActionRequest, exc: Exception, now: datetime
    ) -> None:
        """Keep a refused check-in in the timeline: who and when, never the code typed."""
        if isinstance(exc, TooManyCheckIns):
            self.event(conn, ticket_pk, now, CHECKIN_BLOCKED, request.actor, str(exc))
        elif isinstance(exc, CheckInRefused):
            note = "check-in refused: the code does not match the one posted at the asset"
            self.event(conn, ticket_pk, now, CHECKIN_REFUSED, request.actor, note)

    def store_change(
        self,
        conn: Connection,
        row: Any,
        request: ActionRequest,
        change: lifecycle.TicketChange,
        now: datetime,
    ) -> set[int]:
        """Write a decided action: the ticket's columns, its stopped clocks, the timeline, the notice."""
        conn.execute(update(tickets).where(tickets.c.id == row.id).values(**change.values))
        if change.stops:
            conn.execute(
                update(sla_clocks)
                .where(
                    sla_clocks.c.ticket_id == row.id,
                    sla_clocks.c.clock.in_([c.value for c in change.stops]),
                    sla_clocks.c.stopped_at.is_(None),
                )
                .values(stopped_at=now)
            )
        action = request.action
        event_pk = self.event(conn, row.id, now, action.value, request.actor, change.note)
        if change.notify:
            self._notify_action(
                conn, row, action, request.actor, change.note, dict(change.detail), event_pk, now
            )
        changed: set[int] = set()
        linked = select(ticket_alerts.c.alert_id).where(ticket_alerts.c.ticket_id == row.id)
        if change.acknowledges:
            result = conn.execute(
                update(alerts)
                .where(alerts.c.id.in_(linked), alerts.c.acknowledged_at.is_(None))
                .values(acknowledged_at=now, acknowledged_by=request.actor, updated_at=now)
                .returning(alerts.c.id)
            )
            changed = {r[0] for r in result}
        if change.ends_manual_alerts:
            # Rectification and prediction alerts have no sensor that clears them: the person's word does.
            result = conn.execute(
                update(alerts)
                .where(
                    alerts.c.id.in_(linked),
                    alerts.c.state == AlertState.FIRING.value,
                    or_(*(alerts.c.kind.like(f"%{suffix}") for suffix in MANUAL_SUFFIXES)),
                )
                .values(state=AlertState.RESOLVED.value, resolved_at=now, updated_at=now)
                .returning(alerts.c.id)
            )
            changed |= {r[0] for r in result}
        return changed

    def _notify_action(
        self,
        conn: Connection,
        row: Any,
        action: TicketAction,
        actor: str,
        note: str,
        detail: dict[str, object],
        event_pk: int,
        now: datetime,
    ) -> None:
        ref = ticket_ref(row.id)
        company = self.site.maintenance.company(str(detail.get("company") or "") or None)
        notice = Notice(
            kind=NoticeKind.ACTION,
            key=f"{ref}:action:{event_pk}",
            site=self.site.id,
            ticket_pk=row.id,
            ticket=ref,
            asset=self.site.asset(row.asset),
            level=Level(row.level),
            summary=row.title,
            at=now,
            staff=() if company is None else company.contacts,  # dispatched to a company: its contacts
            action=action.value,
            actor=actor,
            note=note,
            detail={
                **detail,
                "source": row.source,
                "building": row.building,
                "opened_at": row.created_at,
                "finding": row.kind,
            },
        )
        self.notifier.notify(conn, [notice], now)


COSTED = frozenset({TicketAction.RESOLVE, TicketAction.CLOSE})
"""The actions that may say what the repair cost (the owners' quarterly publication counts it)."""


def with_cost(
    change: lifecycle.TicketChange, request: ActionRequest, so_far: float | None = None
) -> lifecycle.TicketChange:
    """The decided change with the repair's cost, when the action gives one (pure; raises ValueError).
    Costs add up: a ticket that came back and was repaired again cost both repairs (``so_far``)."""
    if request.cost is None:
        return change
    if request.action not in COSTED:
        raise ValueError("cost goes with resolve or close")
    if not math.isfinite(request.cost) or request.cost < 0:
        raise ValueError("cost must be a number >= 0")
    note = "; ".join(n for n in (change.note, f"cost {request.cost:g}") if n)
    total = (so_far or 0.0) + request.cost
    return dataclasses.replace(change, values={**change.values, "cost": total}, note=note)


def _readings(finding: Finding, most: int = 8) -> dict[str, float]:
    """The asset's fused values when the finding was made (what the engineer wants to see first)."""
    numbers = {k: float(v) for k, v in finding.detail.items() if isinstance(v, int | float)}
    return dict(list(numbers.items())[:most])
