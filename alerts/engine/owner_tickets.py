"""Owner-reported tickets, inside the caller's transaction: ORANGE, with the clocks of their category
(``[owner_sla.<category>]`` of the site file; acknowledge: ``owner_acknowledge_s``, 10 minutes, by default),
keeping what the owner said."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert

from alerts.engine.db import new_pk, ticket_ref, tickets
from alerts.engine.notices import Notice, NoticeKind
from alerts.engine.ports import OwnerReport
from alerts.engine.tickets import OWNER_LEVEL, TicketWriter
from facwatch.model import CategorySla, Deadlines, TicketState


def owner_deadlines(sla: CategorySla, acknowledge_s: float, now: datetime) -> Deadlines:
    """The deadlines of an owner report made at ``now`` (``acknowledge_s``: when the category sets none)."""

    def due(seconds: float | None) -> datetime | None:
        return None if seconds is None else now + timedelta(seconds=seconds)

    return Deadlines(
        acknowledge=due(sla.acknowledge_s or acknowledge_s),
        on_site=due(sla.on_site_s),
        fixed=due(sla.fixed_s),
    )


def open_owner(writer: TicketWriter, conn: Connection, report: OwnerReport, now: datetime) -> int:
    """An owner-reported ticket: ORANGE, with its category's clocks (``Site.owner_sla``)."""
    if all(b.id != report.building for b in writer.site.buildings):
        raise ValueError(f"unknown building {report.building!r}")
    asset = None
    if report.asset is not None:
        asset = writer.site.asset(report.asset)
        if asset is None:
            raise ValueError(f"unknown asset {report.asset!r}")
        if asset.building != report.building:
            raise ValueError(f"asset {asset.id!r} is in building {asset.building!r}, not {report.building!r}")
    text = report.text.strip()
    if not text:
        raise ValueError("the report's text is empty")
    where = f" ({report.unit})" if report.unit else ""
    short = text if len(text) <= 80 else text[:79] + "…"
    pk = new_pk(
        conn.execute(
            insert(tickets).values(
                site=writer.site.id,
                asset=report.asset or "",
                building=report.building,
                kind=f"owner.{report.category}",
                level=OWNER_LEVEL.value,
                state=TicketState.OPEN.value,
                title=f"{report.category}{where}: {short}",
                created_at=now,
                updated_at=now,
                escalation_step=0,
                source="owner",
                unit=report.unit,
                category=report.category,
                description=text,
                photo_urls=json.dumps(list(report.photo_urls)),
                location=report.location,
            )
        )
    )
    writer.event(conn, pk, now, "opened", report.reporter, f"reported by an owner: {text}")
    due = owner_deadlines(writer.site.owner_sla.of(report.category), writer.sla.owner_acknowledge_s, now)
    writer.set_clocks(conn, pk, due, now, OWNER_LEVEL)
    ref = ticket_ref(pk)
    notice = Notice(
        kind=NoticeKind.OPENED,
        key=f"{ref}:owner",
        site=writer.site.id,
        ticket_pk=pk,
        ticket=ref,
        asset=asset,
        level=OWNER_LEVEL,
        summary=f"{report.category}{where}: {text}",
        at=now,
        staff=writer.staff(asset, report.building, now),
        detail={
            "source": "owner",
            "building": report.building,
            "category": report.category,
            "unit": report.unit,
            "location": report.location,
            "ack_due": due.acknowledge,
            "on_site_due": due.on_site,
            "opened_at": now,
        },
    )
    writer.notifier.notify(conn, [notice], now)
    return pk
