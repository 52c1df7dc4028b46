"""Pending findings, inside the caller's transaction: a finding that must hold for its kind's pending period,
or that arrived late (a replay), waits in ``pending_findings`` until it has held (then it opens at the time it
would have) or its clear arrives first (then it is noise, or, when late, a ``late`` alert: recorded, nobody
told). What waits and what opens is decided in ``alerts.engine.conditions.decide_pending``; this module
reads and writes the rows.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select, update

from alerts.engine import conditions
from alerts.engine.conditions import PendingChange, PendingEvent, PendingFacts
from alerts.engine.db import alerts, pending_findings, utc
from facwatch.model import Asset, Finding, Level, ms_from_utc

if TYPE_CHECKING:
    from alerts.engine.alerting import AlertWriter, Changes


def hold(conn: Connection, finding: Finding, when: datetime) -> None:
    """Keep ``finding`` waiting (since its first time: a repeat while waiting changes nothing)."""
    key = (pending_findings.c.site == finding.site) & (pending_findings.c.asset == finding.asset)
    key &= pending_findings.c.kind == finding.kind
    if conn.execute(select(pending_findings.c.since).where(key)).first() is not None:
        return  # already waiting since an earlier time
    conn.execute(
        insert(pending_findings).values(
            site=finding.site,
            asset=finding.asset,
            kind=finding.kind,
            since=when,
            level=finding.level.value,
            summary=finding.summary,
            channel=finding.channel,
            value=finding.value,
            detail=json.dumps(dict(finding.detail)),
        )
    )


def end(
    writer: AlertWriter,
    conn: Connection,
    finding: Finding,
    asset: Asset,
    when: datetime,
    changes: Changes,
    wall_now: datetime | None,
) -> None:
    """Its clear arrived: a finding that held for its pending period opens, cleared (late: resolved)."""
    key = (pending_findings.c.site == finding.site) & (pending_findings.c.asset == finding.asset)
    key &= pending_findings.c.kind == finding.kind
    row = conn.execute(select(pending_findings).where(key)).first()
    if row is None:
        return
    conn.execute(delete(pending_findings).where(key))
    held = _finding_of(row, writer.site.id)
    facts = PendingFacts(
        since=_since(row),
        pending_s=writer.policy_for(asset, held.kind, held.level).pending_s,
        lateness_s=writer.site.alerts.lateness_s,
    )
    change, _reason = conditions.decide_pending(facts, PendingEvent(when, cleared=True), wall_now)
    if change is PendingChange.DROP:
        return  # noise, nothing to record
    opened = facts.opens_at
    held = dataclasses.replace(held, ts_ms=ms_from_utc(opened))
    pk = writer.open(conn, held, asset, opened, changes, wall_now, cleared=when)
    if pk is not None and change is PendingChange.OPEN_CLEARED:
        conn.execute(update(alerts).where(alerts.c.id == pk).values(cleared_at=when, updated_at=when))
        writer.maybe_cleared = True


def promote(
    writer: AlertWriter, conn: Connection, event_now: datetime, wall_now: datetime | None, changes: Changes
) -> bool:
    """Open the pending findings that have held for their period, unless their asset is replaying
    old data (a later reading of the replay may yet clear them). Returns whether any finding was pending."""
    replaying = writer.replaying(wall_now)
    rows = list(conn.execute(writer.pending_q))
    for row in rows:
        asset = writer.asset_of(row.asset)
        if asset is None:
            continue
        held = _finding_of(row, writer.site.id)
        facts = PendingFacts(
            since=_since(row),
            pending_s=writer.policy_for(asset, held.kind, held.level).pending_s,
            replaying=row.asset in replaying,
        )
        change, _reason = conditions.decide_pending(facts, PendingEvent(event_now), wall_now)
        if change is not PendingChange.OPEN:
            continue
        key = (pending_findings.c.site == row.site) & (pending_findings.c.asset == row.asset)
        conn.execute(delete(pending_findings).where(key & (pending_findings.c.kind == row.kind)))
        held = dataclasses.replace(held, ts_ms=ms_from_utc(facts.opens_at))
        writer.open(conn, held, asset, facts.opens_at, changes, wall_now)
    return bool(rows)


def _since(row: Any) -> datetime:
    since = utc(row.since)
    if since is None:
        raise ValueError("a pending finding without its time")
    return since


def _finding_of(row: Any, site: str) -> Finding:
    detail = json.loads(row.detail or "{}")
    return Finding(
        site=site,
        asset=row.asset,
        kind=row.kind,
        ts_ms=ms_from_utc(_since(row)),
        active=True,
        level=Level(row.level),
        summary=row.summary,
        channel=row.channel,
        value=row.value,
        detail={str(k): float(v) for k, v in detail.items() if isinstance(v, int | float)},
    )
