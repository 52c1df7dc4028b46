"""Findings, alerts and tickets: what the detectors conclude and what the engine makes of it; and the page
of a list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from facwatch.model import Level


@dataclass(frozen=True, slots=True)
class Finding:
    """What a detector or rule concluded about an asset at a time: the input of the alert engine.

    ``active`` is True while the condition holds and False when it has cleared, so the engine can
    resolve what it opened. ``kind`` is dotted, e.g. ``elevator.entrapment`` or ``threshold.high``.
    """

    site: str
    asset: str
    kind: str
    ts_ms: int
    active: bool
    level: Level
    summary: str
    channel: str | None = None
    value: float | None = None
    detail: Mapping[str, float] = field(default_factory=dict)


class AlertState(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    site: str
    asset: str
    building: str
    kind: str
    level: Level
    state: AlertState
    summary: str
    opened_at: datetime
    updated_at: datetime
    ticket_id: str | None = None
    resolved_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    count: int = 1
    """How many times the finding fired while this alert was open."""
    escalation_step: int = 0
    """0: the on-call engineer; 1: supervisor; 2: manager (index into the site's escalation chain)."""
    silenced_until: datetime | None = None
    """While set and in the future, changes of this alert notify nobody (they are still recorded)."""
    silence_reason: str | None = None
    suppressed_by: str | None = None
    """Inhibited by another alert (e.g. ``A-000007 power.outage``): recorded, nobody notified."""
    flapping: bool = False
    """Opened and closed too often: held open, not re-notified."""
    late: bool = False
    """Arrived late (replayed) and had already cleared: recorded, not dispatched."""
    predicted_at: datetime | None = None
    """For a predicted failure (``*.wear_predicted``): when the channel is predicted to reach its limit."""


class TicketState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    REOPENED = "reopened"


class TicketAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    DISPATCH = "dispatch"
    CHECK_IN = "check_in"
    PROGRESS = "progress"
    PLAN_B = "plan_b"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    CANCEL = "cancel"
    COMMENT = "comment"


@dataclass(frozen=True, slots=True)
class Deadlines:
    acknowledge: datetime | None = None
    on_site: datetime | None = None
    fixed: datetime | None = None


@dataclass(frozen=True, slots=True)
class TicketEvent:
    ts: datetime
    action: str
    actor: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Ticket:
    id: str
    site: str
    asset: str
    building: str
    kind: str
    level: Level
    state: TicketState
    title: str
    created_at: datetime
    updated_at: datetime
    deadlines: Deadlines
    alert_ids: tuple[str, ...] = ()
    timeline: tuple[TicketEvent, ...] = ()
    assignee: str | None = None
    acknowledged_at: datetime | None = None
    on_site_at: datetime | None = None
    resolved_at: datetime | None = None
    source: str = "sensor"
    """``sensor`` (opened by an alert) or ``owner`` (reported through the API)."""
    unit: str | None = None
    category: str | None = None
    description: str = ""
    photo_urls: tuple[str, ...] = ()
    location: str | None = None
    progress_percent: float | None = None
    eta: datetime | None = None
    """The engineer's latest estimate of when it is fixed (dispatch or progress)."""
    closed_at: datetime | None = None
    planned_at: datetime | None = None
    """Non-urgent work created at night: when it is planned (the next day-hours slot); None: at once."""
    company: str | None = None
    """The maintenance company it was dispatched to, if any."""
    arrival: str | None = None
    """How arrival was shown: ``code`` (the posted code only) or ``corroborated`` (the sensors agree)."""
    cost: float | None = None
    """What the repair cost (in the site's currency), given when it was resolved or closed."""


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A page of a list: ``next`` is the opaque cursor of the following page, or None at the end."""

    items: Sequence[T]
    next: str | None = None
