"""The outbox writer: notification rows written in the caller's transaction, and what waited released.

A notification row is written in the same transaction as the alert, action or escalation that caused it,
under an idempotency key (``T-000001:A-000001:engineer:eng-wang``): writing the same key again adds
nothing, so a replayed batch or a restarted clock never notifies twice. A row that waits (the group window,
or the owners' quiet hours) is ``held``; when its time comes (``release_held``), everything held for the same
recipient goes out as one message (a digest with the count and the worst cases first) and the members are
``merged`` into it; one whose reason went away while it waited (a maintenance window cancelled or moved) is
``withdrawn`` and never sent. A ``ready`` notification has one receipt per channel, in the recipient's order: RED
goes to the first ``red_channels`` at once, anything else to the first; the others are ``standby``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, func, insert, select, update

from alerts.engine.db import new_pk, notification_receipts, notifications, utc, utc_now
from alerts.notify.audiences import DIGEST_LINES, OWNERS, SEVERITY, Outgoing, ref_of
from alerts.notify.messages import Message, Templates, localized
from facwatch.model import Level, Site

log = structlog.get_logger("alerts.notify.writer")


class Outbox:
    """Writes notifications inside the caller's transaction."""

    def __init__(self, red_channels: int = 2) -> None:
        self.red_channels = red_channels

    def enqueue(self, conn: Connection, items: Sequence[Outgoing], now: datetime) -> int:
        """Add what is new (by key); returns how many notifications were added."""
        added = 0
        now = utc_now(now)
        n = notifications
        for item in items:
            key = fit_key(item.key)
            exists = conn.execute(select(n.c.id).where(n.c.key == key)).first()
            if exists is not None:
                continue
            if not item.targets:
                log.warning("nobody to notify: no channels", recipient=item.recipient, key=item.key)
                continue
            release = utc_now(item.release_at) if item.release_at is not None else None
            held = release is not None and release > now
            if held and release is not None and not item.quiet:
                release = self._join_batch(conn, item, release)
            nid = new_pk(
                conn.execute(
                    insert(n).values(
                        key=key,
                        site=item.site,
                        ticket_id=item.ticket_id,
                        audience=item.audience,
                        recipient=item.recipient[:200],
                        title=item.title,
                        body=item.body,
                        created_at=now,
                        status="held" if held else "ready",
                        level=item.level,
                        asset=item.asset,
                        lang=item.lang,
                        line=item.line or item.title,
                        targets=json.dumps(list(item.targets)),
                        release_at=release if held else None,
                        quiet=int(item.quiet and held),
                    )
                )
            )
            if not held:
                self.add_receipts(conn, nid, item.targets, item.level, now)
            added += 1
        return added

    def withdraw(self, conn: Connection, keys: Sequence[str]) -> int:
        """Withdraw the notifications under ``keys`` still ``held`` (nothing sent, no receipts): they become
        ``withdrawn`` and are never released. One released meanwhile (``release_held`` locks what it takes)
        is left alone. Returns how many were withdrawn."""
        if not keys:
            return 0
        n = notifications
        done = conn.execute(
            update(n)
            .where(n.c.key.in_([fit_key(k) for k in keys]), n.c.status == "held")
            .values(status="withdrawn", release_at=None)
        )
        return int(done.rowcount or 0)

    def _join_batch(self, conn: Connection, item: Outgoing, release: datetime) -> datetime:
        """Everything waiting for one recipient leaves together: at the earliest release among them."""
        n = notifications
        mine = (
            n.c.status == "held",
            n.c.quiet == 0,
            n.c.site == item.site,
            n.c.audience == item.audience,
            n.c.recipient == item.recipient[:200],
        )
        batch = utc(conn.execute(select(func.min(n.c.release_at)).where(*mine)).scalar())
        if batch is None or batch <= release:
            return batch or release
        conn.execute(update(n).where(*mine).values(release_at=release))
        return release

    def add_receipts(
        self, conn: Connection, nid: int, targets: Sequence[str], level: str | None, now: datetime
    ) -> None:
        active = self.red_channels if level == Level.RED.value else 1
        conn.execute(
            insert(notification_receipts),
            [
                {
                    "notification_id": nid,
                    "url": url,
                    "status": "pending" if i < active else "standby",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "updated_at": now,
                    "priority": i,
                }
                for i, url in enumerate(dict.fromkeys(targets))
            ],
        )

    def release_held(self, engine: Engine, site: Site | None, templates: Templates, now: datetime) -> None:
        """Held notifications whose time has come become ready; several for one recipient become one digest."""
        n = notifications
        with engine.begin() as conn:
            rows = list(
                conn.execute(
                    select(n)
                    .where(n.c.status == "held", n.c.release_at <= now)
                    .order_by(n.c.id)
                    .with_for_update(skip_locked=True)
                )
            )
            groups: dict[tuple[str, str, str, int], list[Any]] = {}
            for row in rows:
                groups.setdefault((row.site, row.audience, row.recipient, row.quiet), []).append(row)
            for members in groups.values():
                if len(members) == 1:
                    (row,) = members
                    conn.execute(update(n).where(n.c.id == row.id).values(status="ready"))
                    self.add_receipts(conn, row.id, json.loads(row.targets or "[]"), row.level, now)
                else:
                    self._merge(conn, members, site, templates, now)

    def _merge(
        self, conn: Connection, members: list[Any], site: Site | None, templates: Templates, now: datetime
    ) -> None:
        n = notifications
        first, last = members[0], members[-1]
        key = f"digest:{first.id}-{last.id}:{len(members)}"
        worst = max(members, key=lambda m: (SEVERITY.get(m.level or "", 0), -m.id))
        tickets = {m.ticket_id for m in members}
        text = digest(
            templates,
            staff=first.audience != OWNERS,
            lang=last.lang or "zh",
            site_name=site.name if site else first.site,
            key=key,
            members=[
                {"level": m.level, "line": m.line or m.title, "created_at": m.created_at} for m in members
            ],
        )
        nid = new_pk(
            conn.execute(
                insert(n).values(
                    key=key,
                    site=first.site,
                    ticket_id=tickets.pop() if len(tickets) == 1 else None,
                    audience=first.audience,
                    recipient=first.recipient,
                    title=text.title,
                    body=text.body,
                    created_at=min(utc_now(m.created_at) for m in members),
                    status="ready",
                    quiet=first.quiet,
                    level=worst.level,
                    asset=worst.asset,
                    lang=last.lang,
                    line=text.title,
                    targets=last.targets,
                )
            )
        )
        conn.execute(
            update(n).where(n.c.id.in_([m.id for m in members])).values(status="merged", merged_into=nid)
        )
        self.add_receipts(conn, nid, json.loads(last.targets or "[]"), worst.level, now)
        log.info("grouped", recipient=first.recipient, count=len(members), key=key)


def digest(
    templates: Templates,
    *,
    staff: bool,
    lang: str,
    site_name: str,
    key: str,
    members: Sequence[Mapping[str, Any]],
) -> Message:
    """One message for several that wait together: the count and the worst cases first.

    ``members`` carry ``level``, ``line`` and ``created_at``; the same ticket's updates stay in order.
    """
    ordered = sorted(members, key=lambda m: (-SEVERITY.get(str(m["level"]), 0), m["created_at"]))
    worst = ordered[0]
    shown = ordered[:DIGEST_LINES]
    more_count = len(ordered) - len(shown)

    def fields(one: str) -> dict[str, str]:
        more = ""
        if more_count:
            more = "\n" + templates.render_one("digest_more", one, {"more_count": str(more_count)}).title
        return {
            "site": localized(site_name, one),
            "count": str(len(ordered)),
            "level": str(worst["level"] or "").upper(),
            "worst": str(worst["line"]),
            "items": "\n".join(f"- {m['line']}" for m in shown),
            "more": more,
            "more_count": str(more_count),
            "ref": ref_of(key),
        }

    return templates.render("staff_digest" if staff else "owner_digest", lang, fields)


def fit_key(key: str, limit: int = 200) -> str:
    """A key that fits its column: a long one keeps its head and a hash of the whole, so it stays unique."""
    if len(key) <= limit:
        return key
    digest_ = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return f"{key[: limit - 25]}#{digest_}"


__all__ = ["Outbox", "digest", "fit_key"]
