"""Owner-reported tickets, inside the caller's transaction: ORANGE, with only an acknowledge clock
(``owner_acknowledge_s``, 10 minutes by default), keeping what the owner said."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert

from alerts.engine.db import new_pk, ticket_ref, tickets
from alerts.engine.notices import Notice, NoticeKind
from alerts.engine.ports import OwnerReport
from alerts.engine.tickets import OWNER_LEVEL, TicketWriter
from facwatch.model import Deadlines, TicketState


def open_owner(writer: TicketWriter, conn: Connection, report: OwnerReport, now: datetime) -> int:
    """An owner-reported ticket: ORANGE, only an acknowledge clock (``owner_acknowledge_s``)."""
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
    due = Deadlines(acknowledge=now + timedelta(seconds=writer.sla.owner_acknowledge_s))
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
            "on_site_due": None,
            "opened_at": now,
        },
    )
    writer.notifier.notify(conn, [notice], now)
    return pk
