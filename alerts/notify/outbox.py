"""Notifications: a durable outbox in the state database, and a dispatcher that sends it through apprise.

The parts, each in its own module:

- ``alerts.notify.writer``: the outbox rows, written in the caller's transaction under an idempotency key;
  group windows and quiet hours (``held``), digests (``merged``), one receipt per channel; a held row
  that is no longer true is ``withdrawn`` (``OutboxNotifier.withdraw``).
- ``alerts.notify.dispatcher``: claims due receipts and sends each in isolation
  (``alerts.notify.isolation``: a thread per send, a hard deadline, slots per target).
- ``alerts.notify.delivery``: the one pure decision of what a send's end means (retry, fallback, give up).
- ``alerts.notify.undelivered``: a RED nobody received becomes a ``notify.undelivered`` finding and goes to
  the fallback person.
- ``alerts.notify.direct``: a direct line to a person, outside the outbox and the database.

This module turns the engine's notices into outbox rows (``OutboxNotifier``) and keeps the names the rest
of facwatch imports. Sending goes through one seam, ``alerts.notify.channels.apprise_send`` (apprise, and the
demo's ``console://`` and ``jsonl://`` schemes); tests and benchmarks can hand the dispatcher another ``send``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from alerts.engine.maintenance import Announcement
from alerts.engine.notices import Notice
from alerts.notify.audiences import Outgoing, Planner
from alerts.notify.channels import DeliveryFailed, apprise_send, jsonl_path
from alerts.notify.chat_replies import ChatReplies
from alerts.notify.dispatcher import Dispatcher
from alerts.notify.maintenance import plan_announcement
from alerts.notify.messages import Templates
from alerts.notify.undelivered import UNDELIVERED
from alerts.notify.writer import Outbox, fit_key
from facwatch.config import NotifySettings
from facwatch.model import Person, Site


class OutboxNotifier:
    """Turns the engine's notices into outbox rows (``alerts.engine.notices.Notifier``); see ``alerts.notify.audiences``."""

    def __init__(
        self,
        site: Site,
        outbox: Outbox | None = None,
        settings: NotifySettings | None = None,
        templates: Templates | None = None,
    ) -> None:
        self.site = site
        self.settings = settings or NotifySettings()
        self.outbox = outbox or Outbox(self.settings.red_channels)
        self.planner = Planner(site, self.settings, templates or Templates(self.settings.template_dir))
        self.chat = ChatReplies(site, self.settings, self.planner)

    def notify(self, conn: Connection, notices: Sequence[Notice], now: datetime) -> int:
        items: list[Outgoing] = []
        for notice in notices:
            items.extend(self.planner.plan(notice))
            items.extend(self.chat.plan(conn, notice))  # the chat groups that complained, the ladder's people
        return self.outbox.enqueue(conn, items, now)

    def announce(self, conn: Connection, announcements: Sequence[Announcement], now: datetime) -> int:
        """Owners told about maintenance windows (``alerts.engine.maintenance.Announcer``)."""
        items: list[Outgoing] = []
        for announcement in announcements:
            items.extend(plan_announcement(self.site, self.settings, self.planner.templates, announcement))
        return self.outbox.enqueue(conn, items, now)

    def withdraw(self, conn: Connection, keys: Sequence[str], now: datetime) -> int:
        """Held announcements to owners that are no longer true (``alerts.engine.maintenance.Announcer``)."""
        del now  # a held notification has not been sent, whatever the time
        return self.outbox.withdraw(conn, keys)


def fallback_person(site: Site) -> Person | None:
    """The site's fallback person for undelivered RED: ``[escalation] fallback``, else the last of the chain."""
    if site.fallback is not None and (person := site.person(site.fallback)) is not None:
        return person
    chain = site.escalation_chain()
    return chain[-1] if len(chain) > 1 else None


__all__ = [
    "UNDELIVERED",
    "DeliveryFailed",
    "Dispatcher",
    "Outbox",
    "OutboxNotifier",
    "Outgoing",
    "apprise_send",
    "fallback_person",
    "fit_key",
    "jsonl_path",
]
