"""A RED that nobody received: reported as a ``notify.undelivered`` finding and passed to the fallback person.

A RED notification not delivered on any channel within ``undelivered_s`` raises a ``notify.undelivered``
finding (level red, the ticket's asset), once, and goes to the site's fallback person through the outbox.
When it gets through after all, the finding is cleared (once none of its asset's is left).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, select, update

from alerts.engine.db import notification_receipts, notifications, ticket_ref, tickets
from alerts.notify.audiences import FALLBACK, Outgoing, ref_of
from alerts.notify.findings import finding_summary
from alerts.notify.messages import LEVEL_NAMES, Templates, languages
from alerts.notify.writer import Outbox
from facwatch.config import NotifySettings
from facwatch.model import Finding, Level, Person, ms_from_utc

log = structlog.get_logger("alerts.notify.undelivered")

UNDELIVERED = "notify.undelivered"


class Undelivered:
    """Finds RED notifications nobody received, and tells the fallback person."""

    def __init__(
        self, outbox: Outbox, settings: NotifySettings, templates: Templates, fallback: Person | None
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.templates = templates
        self.fallback = fallback

    def check(self, engine: Engine, now: datetime) -> list[Finding]:
        r, n = notification_receipts, notifications
        cutoff = now - timedelta(seconds=self.settings.undelivered_s)
        delivered = select(r.c.id).where(r.c.notification_id == n.c.id, r.c.status == "sent").exists()
        findings: list[Finding] = []
        with engine.begin() as conn:
            rows = list(
                conn.execute(
                    select(n).where(
                        n.c.level == Level.RED.value,
                        n.c.status == "ready",
                        n.c.audience != FALLBACK,
                        n.c.undelivered_at.is_(None),
                        n.c.quiet == 0,  # what waited for the morning was not urgent
                        n.c.created_at <= cutoff,
                        ~delivered,
                    )
                )
            )
            for row in rows:
                conn.execute(update(n).where(n.c.id == row.id).values(undelivered_at=now))
                errors = conn.execute(
                    select(r.c.url, r.c.error).where(r.c.notification_id == row.id).order_by(r.c.priority)
                ).all()
                why = "; ".join(f"{safe(u)}: {e or 'not tried yet'}" for u, e in errors)
                summary = (
                    f"RED notification {ref_of(row.key)} to {row.recipient} not delivered on any channel "
                    f"within {self.settings.undelivered_s:g} s ({why})"
                )
                log.error("RED undelivered", key=row.key, recipient=row.recipient, errors=why)
                if row.asset is not None:
                    findings.append(
                        Finding(row.site, row.asset, UNDELIVERED, ms_from_utc(now), True, Level.RED, summary)
                    )
                self._to_fallback(conn, row, now)
        return findings

    def _to_fallback(self, conn: Connection, row: Any, now: datetime) -> None:
        person = self.fallback
        if person is None or person.id == row.recipient:
            log.error("no fallback person to pass an undelivered RED to", key=row.key)
            return
        lang = languages(person.lang)[0]
        title, body = row.title, row.body
        if languages(row.lang or "zh") != (lang,):  # the fallback person reads their own language only
            title, body = _retold(conn, row, lang)
        fields = {
            "title": title,
            "body": body,
            "recipient": row.recipient,
            "seconds": f"{self.settings.undelivered_s:g}",
            "level_name": LEVEL_NAMES[lang][Level.RED.value],
        }
        text = self.templates.render_one("fallback", lang, fields)
        item = Outgoing(
            f"{row.key}:fallback:{person.id}",
            row.site,
            row.ticket_id,
            FALLBACK,
            person.id,
            person.notify,
            text.title,
            text.body,
            level=Level.RED.value,
            asset=row.asset,
            lang=person.lang,
        )
        self.outbox.enqueue(conn, [item], now)


def _retold(conn: Connection, row: Any, lang: str) -> tuple[str, str]:
    """What an undelivered notification was about, in ``lang``: its ticket, asset and finding, in words."""
    kind, ticket = "", "—"
    if row.ticket_id is not None:
        found = conn.execute(select(tickets.c.kind).where(tickets.c.id == row.ticket_id)).first()
        kind, ticket = (str(found.kind) if found else ""), ticket_ref(int(row.ticket_id))
    level = LEVEL_NAMES[lang][str(row.level or Level.RED.value)]
    what = finding_summary(kind, lang, {})
    if lang == "en":
        return f"[{level}] {ticket} {row.asset or ''}".strip(), f"{level} alert: {what} ({row.asset or '—'})"
    return f"[{level}] {ticket} {row.asset or ''}".strip(), f"{level}告警：{what}（{row.asset or '—'}）"


def recovered(conn: Connection, row: Any, when: datetime) -> Finding | None:
    """A RED reported undelivered got through after all: the finding that clears it, once none is left."""
    r, n = notification_receipts, notifications
    delivered = select(r.c.id).where(r.c.notification_id == n.c.id, r.c.status == "sent").exists()
    left = conn.execute(
        select(n.c.id).where(
            n.c.site == row.site, n.c.asset == row.asset, n.c.undelivered_at.is_not(None), ~delivered
        )
    ).first()
    if left is not None:
        return None
    summary = f"RED notification {ref_of(row.key)} to {row.recipient} delivered after all"
    return Finding(row.site, row.asset, UNDELIVERED, ms_from_utc(when), False, Level.RED, summary)


def safe(url: str) -> str:
    """A target for logs and findings: the scheme and host only, never tokens or passwords."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    return (
        f"{scheme}://{host}"
        if scheme in ("json", "xml", "form", "mailto", "mailtos", "console")
        else f"{scheme}://…"
    )


__all__ = ["UNDELIVERED", "Undelivered", "recovered", "safe"]
