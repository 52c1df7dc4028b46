"""The seam between the alert engine and the notifications: a ``Notice`` for each thing people should hear of.

The engine (``alerts.engine.service``, ``alerts.engine.tickets``) decides *that* something is worth telling and *which staff*
should hear it (the on-call engineer by the rota, the escalation target). The notifier (``alerts.notify.outbox``)
decides everything else: the owners' audience, the words (templates, language), the channels, quiet hours,
grouping, and writes the outbox rows — inside the engine's transaction, so a notice exists exactly when the
change that caused it was committed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Connection

from facwatch.model import Asset, Level, Person


class NoticeKind(StrEnum):
    OPENED = "opened"
    """A ticket opened for an alert (or a worse alert joined it): the staff named, and owners for RED."""
    ESCALATED = "escalated"
    """An SLA clock ran out (or a reminder of it is due): the escalation target in ``staff``."""
    ACTION = "action"
    """A person acted on the ticket (``action``: acknowledge, dispatch, progress, plan_b, resolve, ...)."""
    FOLLOW_UP = "follow_up"
    """The day after resolution: ask the owners whether all is well."""


@dataclass(frozen=True, slots=True)
class Notice:
    kind: NoticeKind
    key: str
    """Unique per occurrence; the outbox's idempotency keys are derived from it, so a retry adds nothing."""
    site: str
    ticket_pk: int
    ticket: str
    """The ticket's reference, e.g. ``T-000001``."""
    asset: Asset | None
    level: Level
    summary: str
    at: datetime
    """Event time of what happened."""
    staff: tuple[Person, ...] = ()
    """The people among the staff the engine wants told."""
    action: str | None = None
    actor: str | None = None
    note: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)
    """Facts for the words: ``ack_due``, ``on_site_due``, ``opened_at``, ``reason``, ``step``, ``percent``,
    ``eta``, ``plan_b``, ``alert`` (its reference) …"""


class Notifier(Protocol):
    def notify(self, conn: Connection, notices: Sequence[Notice], now: datetime) -> int:
        """Write what these notices mean into the outbox, in the caller's transaction; returns rows added."""
        ...
