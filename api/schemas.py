"""Response and request bodies: the JSON shapes of the HTTP contract (ARCHITECTURE.md).

Datetimes are serialised as ISO-8601 UTC (``...Z``); the ``from_*`` builders map domain values to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from alerts.store import alert_json, ticket_json
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
        # One mapping for the API and the event stream: alerts.store.alert_json.
        return cls.model_validate(alert_json(alert))


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
        # One mapping for the API and the event stream: alerts.store.ticket_json.
        return cls.model_validate(ticket_json(ticket))


class TicketDetailOut(TicketOut):
    timeline: list[TimelineEntryOut]

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> TicketDetailOut:
        timeline = [TimelineEntryOut.from_event(e) for e in ticket.timeline]
        return cls.model_validate({**ticket_json(ticket), "timeline": timeline})


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
