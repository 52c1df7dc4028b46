"""Response and request bodies: the JSON shapes of the HTTP contract (ARCHITECTURE.md).

Datetimes are serialised as ISO-8601 UTC (``...Z``); the ``from_*`` builders map domain values to them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from operator import attrgetter
from typing import Annotated, Generic, TypeVar, get_args

import orjson
from fastapi import Response
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl, JsonValue

from alerts.engine.store import alert_json, ticket_json
from alerts.notify.channel_words import LANGS
from alerts.notify.findings import finding_name
from api.text import TextIn
from facwatch.model import (
    OLD_CATEGORIES,
    Alert,
    AlertState,
    Level,
    Site,
    Ticket,
    TicketAction,
    TicketEvent,
    TicketState,
)
from facwatch.model import Category as OwnerCategory


def as_utc(when: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to it."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
Category = Annotated[
    OwnerCategory, BeforeValidator(lambda v: OLD_CATEGORIES.get(v, v) if isinstance(v, str) else v)
]
"""The seven categories (``facwatch.owner_config``); the old names ``water`` and ``fire`` are still taken."""

ALERT_EXAMPLE: dict[str, JsonValue] = {
    "id": "A12", "site": "lakeside", "asset": "b1-elev-1", "building": "b1", "kind": "elevator.entrapment",
    "level": "red", "state": "firing", "summary": "car stopped between floors with the alarm pressed",
    "opened_at": "2024-05-01T08:00:00Z", "updated_at": "2024-05-01T08:00:05Z", "resolved_at": None,
    "ticket_id": "T7", "count": 1, "acknowledged_at": None, "acknowledged_by": None, "escalation_step": 0,
    "silenced_until": None, "silence_reason": None, "suppressed_by": None, "flapping": False, "late": False,
    "predicted_at": None,
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
    items: list[ItemT] = Field(description="This page's items, in the list's order")
    next: str | None = Field(description="Cursor of the next page, or null at the end")


class AlertOut(BaseModel):
    id: str = Field(description="The alert's id")
    site: str = Field(description="Id of the site")
    asset: str = Field(description="Id of the asset that raised it")
    building: str = Field(description="Id of the asset's building")
    kind: str = Field(description="What fired, e.g. `elevator.entrapment`")
    level: Level = Field(description="How bad: red, orange, yellow, blue")
    state: AlertState = Field(description="firing or resolved (an acknowledgement shows in acknowledged_at)")
    summary: str = Field(description="What happened, in words")
    opened_at: datetime = Field(description="When it first fired")
    updated_at: datetime = Field(description="When it last changed")
    resolved_at: datetime | None = Field(description="When it cleared, or null while it fires")
    ticket_id: str | None = Field(description="The ticket it opened or joined, if any")
    count: int = Field(description="How many times it fired while open")
    acknowledged_at: datetime | None = Field(description="When someone acknowledged it")
    acknowledged_by: str | None = Field(description="Who acknowledged it")
    escalation_step: int = Field(description="How far its escalation has gone (0: the first contacts)")
    silenced_until: datetime | None = Field(default=None, description="Nobody is notified until then")
    silence_reason: str | None = Field(default=None, description="Why it was silenced")
    suppressed_by: str | None = Field(
        default=None, description="The alert that explains this one (a power outage in its building)"
    )
    flapping: bool = Field(default=False, description="Opened and cleared repeatedly: held open, told once")
    late: bool = Field(default=False, description="Arrived late and had already cleared: recorded only")
    predicted_at: datetime | None = Field(default=None, description="A predicted failure's date")
    label: dict[str, str] = Field(
        default_factory=dict,
        description="The kind's name for people, by language (`zh`, `en`), beside the raw `kind`",
    )

    model_config = ConfigDict(json_schema_extra={"examples": [ALERT_EXAMPLE]})

    @classmethod
    def from_alert(cls, alert: Alert) -> AlertOut:
        # One mapping for the API and the event stream: alerts.engine.store.alert_json.
        return cls.model_validate({**alert_json(alert), "label": kind_label(alert.kind, alert.summary)})


class DeadlinesOut(BaseModel):
    acknowledge: datetime | None = Field(description="By when the ticket must be acknowledged (SLA)")
    on_site: datetime | None = Field(description="By when an engineer must be on site (SLA)")
    fixed: datetime | None = Field(description="By when it must be fixed (SLA)")


class TimelineEntryOut(BaseModel):
    ts: datetime = Field(description="When it happened")
    action: str = Field(description="What was done (e.g. `dispatch`, `check_in`)")
    actor: str = Field(description="Who did it (a token's name, or `system`)")
    note: str = Field(description="The note given with it")

    @classmethod
    def from_event(cls, event: TicketEvent) -> TimelineEntryOut:
        return cls(ts=as_utc(event.ts), action=event.action, actor=event.actor, note=event.note)


class TicketOut(BaseModel):
    id: str = Field(description="The ticket's id")
    site: str = Field(description="Id of the site")
    asset: str = Field(description="Id of the asset")
    building: str = Field(description="Id of the building")
    kind: str = Field(description="What the ticket is about (the alert's kind, or the owner's category)")
    level: Level = Field(description="How urgent: red, orange, yellow, blue")
    state: TicketState = Field(description="Where the ticket is in its lifecycle")
    title: str = Field(description="One line saying what is wrong")
    created_at: datetime = Field(description="When it was opened")
    updated_at: datetime = Field(description="When it last changed")
    alert_ids: list[str] = Field(description="The alerts that opened or joined it")
    deadlines: DeadlinesOut = Field(description="Its SLA deadlines")
    assignee: str | None = Field(description="The engineer dispatched, if any")
    acknowledged_at: datetime | None = Field(description="When it was acknowledged")
    on_site_at: datetime | None = Field(description="When an engineer checked in on site")
    resolved_at: datetime | None = Field(description="When it was resolved")
    source: str = Field(default="sensor", description="`sensor` (opened by an alert) or `owner` (reported)")
    unit: str | None = Field(default=None, description="The owner's unit, for a reported problem")
    category: str | None = Field(default=None, description="The owner's category, for a reported problem")
    description: str = Field(default="", description="The owner's words, for a reported problem")
    photo_urls: list[str] = Field(description="Photos the owner attached", default_factory=list)
    location: str | None = Field(default=None, description="Where in the building")
    progress_percent: float | None = Field(default=None, description="The engineer's latest progress, 0-100")
    eta: datetime | None = Field(default=None, description="The engineer's latest estimate of the fix")
    closed_at: datetime | None = Field(default=None, description="When it was closed")
    planned_at: datetime | None = Field(
        default=None, description="Non-urgent work created at night: when it is planned (day hours)"
    )
    company: str | None = Field(default=None, description="The maintenance company it was dispatched to")
    arrival: str | None = Field(
        default=None,
        description="How arrival was shown: code (the posted code) or corroborated (sensors agree)",
    )
    cost: float | None = Field(default=None, description="What the repair cost (site currency), if given")

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

_ALERT_FIELDS = tuple(f for f in AlertOut.model_fields if f != "label")  # the label: from the kind
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
    data = _in_utc(dict(zip(_ALERT_FIELDS, _alert_values(alert), strict=True)), _ALERT_TIMES)
    data["label"] = kind_label(alert.kind, alert.summary)
    return data


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
    timeline: list[TimelineEntryOut] = Field(description="Everything done to the ticket, oldest first")

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> TicketDetailOut:
        timeline = [TimelineEntryOut.from_event(e) for e in ticket.timeline]
        return cls.model_validate({**ticket_json(ticket), "timeline": timeline})


class ActionIn(TextIn):
    """A ticket action; the actor is the calling token's name."""

    action: TicketAction = Field(description="What to do to the ticket")
    note: str = Field(description="A note kept in the timeline", default="", max_length=2000)
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
    cost: float | None = Field(
        default=None, ge=0, le=1e9, description="For resolve and close: what the repair cost (site currency)"
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


def kind_label(kind: str, summary: str) -> dict[str, str]:
    """An alert kind's name for people by language (alerts/notify/findings.py); an owner's report: its words."""
    return {lang: finding_name(kind, lang, summary) for lang in LANGS}


# --- sites ---------------------------------------------------------------------------------------------


class BuildingOut(BaseModel):
    id: str = Field(description="The building's id")
    name: str = Field(description="Its name")
    assets: list[str] = Field(description="Ids of the building's assets")


class SiteOut(BaseModel):
    """A compound: its buildings and how many assets of each kind it watches (no notification addresses)."""

    id: str = Field(description="The site's id")
    name: str = Field(description="Its name")
    timezone: str = Field(description="Its IANA time zone (reports count days in it)")
    buildings: list[BuildingOut] = Field(description="Its buildings")
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


class SilenceIn(TextIn):
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

    until: UtcDatetime | None = Field(default=None, description="Silence until then (or give duration_s)")
    duration_s: float | None = Field(default=None, gt=0, le=30 * 86400, description="At most 30 days")
    reason: str = Field(description="Why (kept with the alert)", min_length=1, max_length=500)


class OwnerTicketIn(TextIn):
    """A problem reported by an owner (through a property-management system or the front desk)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "No water on the 15th floor since 7 am",
                    "category": "leak",
                    "building": "b1",
                    "unit": "1502",
                    "photo_urls": ["https://pm.example.com/photos/8812.jpg"],
                    "location": "kitchen tap",
                }
            ]
        },
    )

    text: str = Field(description="The owner's words", min_length=1, max_length=4000)
    category: Category = Field(description="What kind of problem")
    building: str = Field(description="Id of the building", min_length=1, max_length=64)
    unit: str | None = Field(description="The owner's unit", default=None, max_length=64)
    asset: str | None = Field(default=None, max_length=64, description="When the owner names the machine")
    photo_urls: list[HttpUrl] = Field(description="Photos (at most 10)", default_factory=list, max_length=10)
    location: str | None = Field(description="Where in the building", default=None, max_length=200)
    site: str | None = Field(default=None, max_length=64, description="Defaults to the API's site")
