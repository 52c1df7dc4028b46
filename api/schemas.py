"""Response and request bodies: the JSON shapes of the HTTP contract (ARCHITECTURE.md).

Datetimes are serialised as ISO-8601 UTC (``...Z``); the ``from_*`` builders map domain values to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from facwatch.model import (
    Alert,
    AlertState,
    Asset,
    AssetKind,
    DeadLetter,
    DeadLetterReason,
    Level,
    Point,
    Ticket,
    TicketAction,
    TicketEvent,
    TicketState,
    utc_from_ms,
)


def as_utc(when: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to it."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _opt_utc(when: datetime | None) -> datetime | None:
    return None if when is None else as_utc(when)


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]

ItemT = TypeVar("ItemT")


class PageOut(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next: str | None = Field(description="Cursor of the next page, or null at the end")


class AlertOut(BaseModel):
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
    resolved_at: datetime | None
    ticket_id: str | None
    count: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalation_step: int

    @classmethod
    def from_alert(cls, alert: Alert) -> AlertOut:
        return cls(
            id=alert.id,
            site=alert.site,
            asset=alert.asset,
            building=alert.building,
            kind=alert.kind,
            level=alert.level,
            state=alert.state,
            summary=alert.summary,
            opened_at=as_utc(alert.opened_at),
            updated_at=as_utc(alert.updated_at),
            resolved_at=_opt_utc(alert.resolved_at),
            ticket_id=alert.ticket_id,
            count=alert.count,
            acknowledged_at=_opt_utc(alert.acknowledged_at),
            acknowledged_by=alert.acknowledged_by,
            escalation_step=alert.escalation_step,
        )


class DeadlinesOut(BaseModel):
    acknowledge: datetime | None
    on_site: datetime | None
    fixed: datetime | None


class TimelineEntryOut(BaseModel):
    ts: datetime
    action: str
    actor: str
    note: str

    @classmethod
    def from_event(cls, event: TicketEvent) -> TimelineEntryOut:
        return cls(ts=as_utc(event.ts), action=event.action, actor=event.actor, note=event.note)


class TicketOut(BaseModel):
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
    alert_ids: list[str]
    deadlines: DeadlinesOut
    assignee: str | None
    acknowledged_at: datetime | None
    on_site_at: datetime | None
    resolved_at: datetime | None

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> TicketOut:
        return cls(**_ticket_fields(ticket))


class TicketDetailOut(TicketOut):
    timeline: list[TimelineEntryOut]

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> TicketDetailOut:
        timeline = [TimelineEntryOut.from_event(e) for e in ticket.timeline]
        return cls(**_ticket_fields(ticket), timeline=timeline)


def _ticket_fields(ticket: Ticket) -> dict[str, object]:
    d = ticket.deadlines
    return {
        "id": ticket.id,
        "site": ticket.site,
        "asset": ticket.asset,
        "building": ticket.building,
        "kind": ticket.kind,
        "level": ticket.level,
        "state": ticket.state,
        "title": ticket.title,
        "created_at": as_utc(ticket.created_at),
        "updated_at": as_utc(ticket.updated_at),
        "alert_ids": list(ticket.alert_ids),
        "deadlines": DeadlinesOut(
            acknowledge=_opt_utc(d.acknowledge), on_site=_opt_utc(d.on_site), fixed=_opt_utc(d.fixed)
        ),
        "assignee": ticket.assignee,
        "acknowledged_at": _opt_utc(ticket.acknowledged_at),
        "on_site_at": _opt_utc(ticket.on_site_at),
        "resolved_at": _opt_utc(ticket.resolved_at),
    }


class ActionIn(BaseModel):
    """A ticket action; the actor is the calling token's name."""

    model_config = ConfigDict(extra="forbid")

    action: TicketAction
    note: str = Field(default="", max_length=2000)
    checkin_code: str | None = Field(default=None, max_length=200, description="Required for check_in")
    assignee: str | None = Field(default=None, max_length=200, description="For dispatch")
    eta: UtcDatetime | None = Field(default=None, description="For dispatch and progress")
    percent: float | None = Field(default=None, ge=0, le=100, description="For progress")


class LatestValueOut(BaseModel):
    ts: datetime
    value: float


class AssetOut(BaseModel):
    id: str
    site: str
    kind: AssetKind
    building: str
    building_name: str
    name: str
    interval_s: float
    rated: dict[str, float]
    last_seen: datetime | None = Field(description="Time of the newest reading of any channel")
    latest: dict[str, LatestValueOut]

    @classmethod
    def from_asset(cls, site: str, asset: Asset, building_name: str, latest: Mapping[str, Point]) -> AssetOut:
        values = {
            channel: LatestValueOut(ts=utc_from_ms(point.ts_ms), value=point.value)
            for channel, point in sorted(latest.items())
        }
        last_ms = max((p.ts_ms for p in latest.values()), default=None)
        return cls(
            id=asset.id,
            site=site,
            kind=asset.kind,
            building=asset.building,
            building_name=building_name,
            name=asset.name,
            interval_s=asset.interval_s,
            rated=dict(asset.rated),
            last_seen=None if last_ms is None else utc_from_ms(last_ms),
            latest=values,
        )


class PointOut(BaseModel):
    ts: datetime
    channel: str
    value: float


class ReadingsOut(BaseModel):
    asset: str
    channel: str
    start: datetime
    end: datetime
    every_s: float | None
    fn: str | None
    points: list[PointOut]


class DeadLetterOut(BaseModel):
    id: int | None
    topic: str
    reason: DeadLetterReason
    detail: str
    payload: str = Field(description="The (truncated) payload as text; undecodable bytes are replaced")
    received_at: datetime

    @classmethod
    def from_letter(cls, letter: DeadLetter) -> DeadLetterOut:
        return cls(
            id=letter.id,
            topic=letter.topic,
            reason=letter.reason,
            detail=letter.detail,
            payload=letter.payload.decode("utf-8", errors="replace"),
            received_at=utc_from_ms(letter.received_ms),
        )


class DeadLetterPageOut(PageOut[DeadLetterOut]):
    counts: dict[str, int] = Field(description="Dead letters kept so far, per reason")


class HealthOut(BaseModel):
    status: str
    site: str
    time: datetime
    subscribers: int
