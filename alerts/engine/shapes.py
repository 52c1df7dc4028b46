"""The JSON shapes of alerts and tickets, for events and the API (ARCHITECTURE.md): ISO-8601 UTC strings,
``A-000001`` / ``T-000001`` ids."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from alerts.engine.db import utc
from facwatch.model import Alert, Ticket


def _iso(when: datetime | None) -> str | None:
    value = utc(when)
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def alert_json(alert: Alert) -> Mapping[str, object]:
    return {
        "id": alert.id,
        "site": alert.site,
        "asset": alert.asset,
        "building": alert.building,
        "kind": alert.kind,
        "level": alert.level.value,
        "state": alert.state.value,
        "summary": alert.summary,
        "opened_at": _iso(alert.opened_at),
        "updated_at": _iso(alert.updated_at),
        "resolved_at": _iso(alert.resolved_at),
        "ticket_id": alert.ticket_id,
        "count": alert.count,
        "acknowledged_at": _iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "escalation_step": alert.escalation_step,
        "silenced_until": _iso(alert.silenced_until),
        "silence_reason": alert.silence_reason,
        "suppressed_by": alert.suppressed_by,
        "flapping": alert.flapping,
        "late": alert.late,
        "predicted_at": _iso(alert.predicted_at),
    }


def ticket_json(ticket: Ticket) -> Mapping[str, object]:
    return {
        "id": ticket.id,
        "site": ticket.site,
        "asset": ticket.asset,
        "building": ticket.building,
        "kind": ticket.kind,
        "level": ticket.level.value,
        "state": ticket.state.value,
        "title": ticket.title,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "alert_ids": list(ticket.alert_ids),
        "deadlines": {
            "acknowledge": _iso(ticket.deadlines.acknowledge),
            "on_site": _iso(ticket.deadlines.on_site),
            "fixed": _iso(ticket.deadlines.fixed),
        },
        "assignee": ticket.assignee,
        "acknowledged_at": _iso(ticket.acknowledged_at),
        "on_site_at": _iso(ticket.on_site_at),
        "resolved_at": _iso(ticket.resolved_at),
        "source": ticket.source,
        "unit": ticket.unit,
        "category": ticket.category,
        "description": ticket.description,
        "photo_urls": list(ticket.photo_urls),
        "location": ticket.location,
        "progress_percent": ticket.progress_percent,
        "eta": _iso(ticket.eta),
        "closed_at": _iso(ticket.closed_at),
        "planned_at": _iso(ticket.planned_at),
        "company": ticket.company,
        "arrival": ticket.arrival,
        "cost": ticket.cost,
    }
