"""Resolving, inside the caller's transaction: cleared alerts resolve once normal for their hold, flapping
ones are held open (``alerts.engine.conditions.decide_hold``), and when a building's power comes back what
it suppressed and still fires becomes a fault of its own, with its ticket.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select, update

from alerts.engine import conditions, inhibit
from alerts.engine.conditions import HoldReason
from alerts.engine.db import alert_ref, alerts, utc
from alerts.engine.tickets import SYSTEM
from facwatch.model import AlertState, Finding, Level, ms_from_utc

if TYPE_CHECKING:
    from alerts.engine.alerting import AlertWriter, Changes


def resolve_held(writer: AlertWriter, conn: Connection, now: datetime, changes: Changes) -> bool:
    """Resolve cleared alerts normal for their hold; hold flapping ones open (``conditions.decide_hold``).
    Returns whether any cleared alert was found (resolved or still holding)."""
    rows = list(conn.execute(writer.cleared_q))
    rules = writer.site.alerts
    for row in rows:
        asset = writer.asset_of(row.asset)
        cleared = utc(row.cleared_at)
        if asset is None or cleared is None:
            continue
        kp = writer.policy_for(asset, row.kind, Level(row.level))
        if now - cleared < timedelta(seconds=kp.hold_s):
            continue
        incidents = _incidents(
            writer, conn, row.asset, row.kind, now - timedelta(seconds=rules.flap_window_s)
        )
        step = conditions.decide_hold(cleared, now, kp.hold_s, incidents, rules, bool(row.flapping))
        if step is HoldReason.WAIT:
            continue
        ticket_pk = row.ticket_id
        if step is HoldReason.FLAPPING:
            conn.execute(update(alerts).where(alerts.c.id == row.id).values(flapping=1, updated_at=now))
            note = f"alert {alert_ref(row.id)} {step.value}: {incidents} incidents within {rules.flap_window_s:g} s"
            event = "alert_flapping"
        else:
            conn.execute(
                update(alerts)
                .where(alerts.c.id == row.id)
                .values(state=AlertState.RESOLVED.value, resolved_at=now, updated_at=now)
            )
            hold = max(kp.hold_s, rules.flap_window_s) if row.flapping else kp.hold_s
            note = f"alert {alert_ref(row.id)} resolved: normal for {hold:g} s"
            event = "alert_resolved"
            if inhibit.is_inhibitor(asset, row.kind):
                _lift(writer, conn, row.id, now, changes)
        changes.alerts.add(row.id)
        if ticket_pk is not None:
            writer.tickets.event(conn, ticket_pk, now, event, SYSTEM, note)
            changes.tickets.add(ticket_pk)
    return bool(rows)


def _incidents(writer: AlertWriter, conn: Connection, asset: str, kind: str, since: datetime) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(alerts)
            .where(
                alerts.c.site == writer.site.id,
                alerts.c.asset == asset,
                alerts.c.kind == kind,
                alerts.c.opened_at >= since,
            )
        ).scalar_one()
    )


def _lift(writer: AlertWriter, conn: Connection, inhibitor_pk: int, now: datetime, changes: Changes) -> None:
    """The power is back: what it suppressed and still fires is a fault of its own now — ticket it."""
    prefix = f"{alert_ref(inhibitor_pk)} "
    rows = conn.execute(
        select(alerts).where(
            alerts.c.suppressed_by.like(f"{prefix}%"),
            alerts.c.state == AlertState.FIRING.value,
            alerts.c.cleared_at.is_(None),
        )
    )
    for row in list(rows):
        asset = writer.asset_of(row.asset)
        if asset is None:
            continue
        conn.execute(update(alerts).where(alerts.c.id == row.id).values(suppressed_by=None, updated_at=now))
        finding = Finding(
            site=row.site,
            asset=row.asset,
            kind=row.kind,
            ts_ms=ms_from_utc(now),
            active=True,
            level=Level(row.level),
            summary=f"{row.summary} (still, after the power came back)",
            value=row.value,
        )
        changes.alerts.add(row.id)
        changes.tickets.add(writer.tickets.open_or_join(conn, row.id, finding, asset, now))
