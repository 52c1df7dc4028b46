"""Response and request bodies: the JSON shapes of the HTTP contract (ARCHITECTURE.md).

Datetimes are serialised as ISO-8601 UTC (``...Z``); the ``from_*`` builders map domain values to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from operator import attrgetter
from typing import Annotated, Generic, Literal, TypeVar, get_args

import orjson
from fastapi import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, JsonValue

from alerts.engine.store import alert_json, ticket_json
from facwatch.model import (
    Alert,
    AlertState,
    Asset,
    AssetKind,
    DeadLetter,
    DeadLetterReason,
    Level,
    Point,
    Site,
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
Category = Literal["elevator", "water", "power", "fire", "noise", "other"]

ALERT_EXAMPLE: dict[str, JsonValue] = {
    "id": "A12", "site": "lakeside", "asset": "b1-elev-1", "building": "b1", "kind": "elevator.entrapment",
    "level": "red", "state": "firing", "summary": "car stopped between floors with the alarm pressed",
    "opened_at": "2024-05-01T08:00:00Z", "updated_at": "2024-05-01T08:00:05Z", "resolved_at": None,
    "ticket_id": "T7", "count": 1, "acknowledged_at": None, "acknowledged_by": None, "escalation_step": 0,
    "silenced_until": None, "silence_reason": None, "suppressed_by": None, "flapping": False, "late": False,
    "predicted_at": None,
}  # fmt: skip
SLA_ROW_EXAMPLE: dict[str, JsonValue] = {
    "site": "lakeside", "level": "red", "tickets": 3, "acknowledged": 3, "arrived": 3, "fixed": 3,
    "ack_p50_s": 24.0, "ack_p90_s": 51.0, "arrive_p50_s": 150.0, "arrive_p90_s": 172.0, "fix_p50_s": 2400.0,
    "fix_p90_s": 5100.0, "ack_breaches": 0, "arrive_breaches": 0, "fix_breaches": 0,
}  # fmt: skip
INCIDENT_ROW_EXAMPLE: dict[str, JsonValue] = {
    "period": "2024-Q2", "site": "lakeside", "asset": "b1-elev-1", "kind": "elevator.entrapment",
    "level": "red", "count": 2,
}  # fmt: skip
TICKET_EXAMPLE: dict[str, JsonValue] = {
    "id": "T7", "site": "lakeside", "asset": "b1-elev-1", "building": "b1", "kind": "elevator.entrapment",
    "level": "red", "state": "dispatched", "title": "Entrapment in elevator 1 of building 1",
    "created_at": "2024-05-01T08:00:00Z", "updated_at": "2024-05-01T08:00:40Z", "alert_ids": ["A12"],
    "deadlines": {"acknowledge": "2024-05-01T08:01:00Z", "on_site": "2024-05-01T08:03:00Z", "fixed": None},
    "assignee": "li.engineer", "acknowledged_at": "2024-05-01T08:00:30Z", "on_site_at": None,
    "resolved_at": None, "source": "sensor", "unit": None, "category": None, "description": "",
    "photo_urls": [], "location": None, "progress_percent": None, "eta": "2024-05-01T08:02:30Z",
}  # fmt: skip

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
    silenced_until: datetime | None = Field(default=None, description="Nobody is notified until then")
    silence_reason: str | None = None
    suppressed_by: str | None = Field(
        default=None, description="The alert that explains this one (a power outage in its building)"
    )
    flapping: bool = Field(default=False, description="Opened and cleared repeatedly: held open, told once")
    late: bool = Field(default=False, description="Arrived late and had already cleared: recorded only")
    predicted_at: datetime | None = Field(default=None, description="A predicted failure's date")

    model_config = ConfigDict(json_schema_extra={"examples": [ALERT_EXAMPLE]})

    @classmethod
    def from_alert(cls, alert: Alert) -> AlertOut:
        # One mapping for the API and the event stream: alerts.engine.store.alert_json.
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
    source: str = Field(default="sensor", description="`sensor` (opened by an alert) or `owner` (reported)")
    unit: str | None = None
    category: str | None = None
    description: str = ""
    photo_urls: list[str] = Field(default_factory=list)
    location: str | None = None
    progress_percent: float | None = None
    eta: datetime | None = Field(default=None, description="The engineer's latest estimate of the fix")
    closed_at: datetime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [TICKET_EXAMPLE]})

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> TicketOut:
        # One mapping for the API and the event stream: alerts.engine.store.ticket_json.
        return cls.model_validate(ticket_json(ticket))


# --- the fast path of the big lists --------------------------------------------------------------------
# A page of 100 alerts validated by pydantic twice (building the model, then FastAPI checking it against
# the response model) costs more than the query. The lists serialise our own domain values, which need no
# validation, straight to JSON with exactly the fields of the documented schema (a test holds them equal),
# and leave datetimes and enums to orjson (in C): UTC datetimes come out as ``...Z`` exactly as
# ``alerts.engine.store.alert_json`` writes them, enums as their values, tuples as lists.

_ALERT_FIELDS = tuple(AlertOut.model_fields)
_TICKET_FIELDS = tuple(TicketOut.model_fields)
_alert_values = attrgetter(*_ALERT_FIELDS)
_ticket_values = attrgetter(*_TICKET_FIELDS)
_DEADLINES = ("acknowledge", "on_site", "fixed")
_deadline_values = attrgetter(*_DEADLINES)
_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def _times(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model`` that hold a time (``datetime`` or ``datetime | None``)."""
    fields = model.model_fields.items()
    return tuple(name for name, f in fields if f.annotation is datetime or datetime in get_args(f.annotation))


_ALERT_TIMES = _times(AlertOut)
_TICKET_TIMES = _times(TicketOut)


def _in_utc(data: dict[str, object], times: tuple[str, ...]) -> dict[str, object]:
    """The datetimes of ``data`` in UTC (what orjson writes as ``...Z``); domain values mostly are."""
    for name in times:
        value = data[name]
        if isinstance(value, datetime) and value.tzinfo is not UTC and value.utcoffset():
            data[name] = value.astimezone(UTC)
    return data


def alert_dict(alert: Alert) -> dict[str, object]:
    return _in_utc(dict(zip(_ALERT_FIELDS, _alert_values(alert), strict=True)), _ALERT_TIMES)


def ticket_dict(ticket: Ticket) -> dict[str, object]:
    data = _in_utc(dict(zip(_TICKET_FIELDS, _ticket_values(ticket), strict=True)), _TICKET_TIMES)
    data["deadlines"] = _in_utc(
        dict(zip(_DEADLINES, _deadline_values(ticket.deadlines), strict=True)), _DEADLINES
    )
    return data


def page_response(items: list[dict[str, object]], next_cursor: str | None) -> Response:
    body = orjson.dumps({"items": items, "next": next_cursor}, option=_JSON_OPTIONS)
    return Response(body, media_type="application/json")


class TicketDetailOut(TicketOut):
    timeline: list[TimelineEntryOut]

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> TicketDetailOut:
        timeline = [TimelineEntryOut.from_event(e) for e in ticket.timeline]
        return cls.model_validate({**ticket_json(ticket), "timeline": timeline})


class ActionIn(BaseModel):
    """A ticket action; the actor is the calling token's name."""

    action: TicketAction
    note: str = Field(default="", max_length=2000)
    checkin_code: str | None = Field(default=None, max_length=200, description="Required for check_in")
    assignee: str | None = Field(default=None, max_length=200, description="For dispatch")
    eta: UtcDatetime | None = Field(default=None, description="For dispatch and progress")
    percent: float | None = Field(default=None, ge=0, le=100, description="For progress")
    plan_b: str | None = Field(
        default=None, max_length=2000, description="For plan_b: what is done for the owners meanwhile"
    )
    override_reason: str | None = Field(
        default=None,
        max_length=2000,
        description="For resolve, close or cancel while the ticket's alert still fires: a manager's reason "
        "(manager scope; kept in the timeline)",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "acknowledge"},
                {"action": "dispatch", "assignee": "li.engineer", "eta": "2024-05-01T08:20:00Z"},
                {"action": "check_in", "checkin_code": "7QK2-M9WD"},
                {"action": "progress", "percent": 60, "eta": "2024-05-01T09:00:00Z", "note": "door motor"},
                {"action": "plan_b", "plan_b": "staff carry water to floors 12-18"},
                {"action": "resolve", "note": "replaced the door lock switch"},
                {"action": "close", "override_reason": "sensor wiring cut; car checked empty on site"},
            ]
        },
    )


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


# --- sites ---------------------------------------------------------------------------------------------


class BuildingOut(BaseModel):
    id: str
    name: str
    assets: list[str] = Field(description="Ids of the building's assets")


class SiteOut(BaseModel):
    """A compound: its buildings and how many assets of each kind it watches (no notification addresses)."""

    id: str
    name: str
    timezone: str
    buildings: list[BuildingOut]
    asset_counts: dict[str, int] = Field(description="Assets per kind")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "lakeside",
                    "name": "Lakeside Gardens",
                    "timezone": "Asia/Shanghai",
                    "buildings": [{"id": "b1", "name": "Building 1", "assets": ["b1-elev-1", "b1-pump-1"]}],
                    "asset_counts": {"elevator": 1, "pump": 1},
                }
            ]
        }
    )

    @classmethod
    def from_site(cls, site: Site) -> SiteOut:
        counts: dict[str, int] = {}
        for asset in site.assets:
            counts[asset.kind.value] = counts.get(asset.kind.value, 0) + 1
        buildings = [
            BuildingOut(id=b.id, name=b.name, assets=[a.id for a in site.assets if a.building == b.id])
            for b in site.buildings
        ]
        return cls(
            id=site.id, name=site.name, timezone=site.timezone, buildings=buildings, asset_counts=counts
        )


# --- alert actions and owner reports -------------------------------------------------------------------


class SilenceIn(BaseModel):
    """Notify nobody about an alert for a while: give ``until`` or ``duration_s`` (not both), and why."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"duration_s": 3600, "reason": "maintenance contractor testing the pump"},
                {"until": "2024-05-01T18:00:00Z", "reason": "known sensor fault, part ordered"},
            ]
        },
    )

    until: UtcDatetime | None = None
    duration_s: float | None = Field(default=None, gt=0, le=30 * 86400, description="At most 30 days")
    reason: str = Field(min_length=1, max_length=500)


class OwnerTicketIn(BaseModel):
    """A problem reported by an owner (through a property-management system or the front desk)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "No water on the 15th floor since 7 am",
                    "category": "water",
                    "building": "b1",
                    "unit": "1502",
                    "photo_urls": ["https://pm.example.com/photos/8812.jpg"],
                    "location": "kitchen tap",
                }
            ]
        },
    )

    text: str = Field(min_length=1, max_length=4000)
    category: Category
    building: str = Field(min_length=1, max_length=64)
    unit: str | None = Field(default=None, max_length=64)
    asset: str | None = Field(default=None, max_length=64, description="When the owner names the machine")
    photo_urls: list[HttpUrl] = Field(default_factory=list, max_length=10)
    location: str | None = Field(default=None, max_length=200)
    site: str | None = Field(default=None, max_length=64, description="Defaults to the API's site")


# --- reports -------------------------------------------------------------------------------------------


class SlaRowOut(BaseModel):
    """SLA compliance of one level on one site: counts, p50/p90 times in seconds, breaches."""

    site: str
    level: Level
    tickets: int
    acknowledged: int
    arrived: int
    fixed: int
    ack_p50_s: float | None
    ack_p90_s: float | None
    arrive_p50_s: float | None
    arrive_p90_s: float | None
    fix_p50_s: float | None
    fix_p90_s: float | None
    ack_breaches: int
    arrive_breaches: int
    fix_breaches: int


class SlaReportOut(BaseModel):
    since: datetime
    until: datetime
    rows: list[SlaRowOut]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "since": "2024-04-01T00:00:00Z",
                    "until": "2024-05-01T00:00:00Z",
                    "rows": [SLA_ROW_EXAMPLE],
                }
            ]
        }
    )


class IncidentRowOut(BaseModel):
    period: str = Field(description="`2024-05` (month) or `2024-Q2` (quarter)")
    site: str
    asset: str
    kind: str
    level: Level
    count: int


class IncidentReportOut(BaseModel):
    since: datetime
    until: datetime
    period: str
    rows: list[IncidentRowOut]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "since": "2024-01-01T00:00:00Z",
                    "until": "2024-07-01T00:00:00Z",
                    "period": "quarter",
                    "rows": [INCIDENT_ROW_EXAMPLE],
                }
            ]
        }
    )
