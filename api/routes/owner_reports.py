"""The owners' report page's API: open routes for the page (a building token, no login) and staff routes.

Open (``/report/…``): the page checks its building token (``X-Building-Token``: signed site, building and
expiry; 403 when forged or expired), uploads up to three photos one by one (raw JPEG or PNG bodies, capped
before they are read whole: 413), sends the report (rate-limited per device and per phone number: 429),
and shows the status of *that* report by its unguessable id. A device is its ``fw_device`` cookie (set
here), else its address. Staff (bearer token): a report's status and photos, the confirmation that earns
points, the ledger, the leaderboard and redemptions.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from alerts.engine.owner_desk import OwnerDesk
from alerts.engine.owner_photos import PhotoRefused
from alerts.engine.owner_values import RateLimited, ReportForm, ReportStatus, TokenRefused
from api.deps import Services
from api.errors import http_errors
from api.responses import INVALID, ErrorOut, Responses, body, example, missing
from api.text import TextIn
from facwatch.model import CATEGORIES, Category

PHOTO_PATH = "/api/v1/report/photos"
"""The photo upload's path: its body limit is the desk's ``photo_max_bytes`` (api/main.py)."""
DEVICE_COOKIE = "fw_device"
ReportId = Annotated[str, Path(min_length=8, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
Position = Annotated[int, Path(ge=1, le=3, description="Which photo, from 1")]
BuildingToken = Annotated[
    str, Header(alias="X-Building-Token", min_length=1, max_length=300, description="The QR code's token")
]

page = APIRouter(prefix="/report", tags=["owners' report page"])


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


REFUSED: Responses = {
    403: _error("The building token is forged, damaged or expired (scan the QR code again)")
}
LIMITED: Responses = {429: _error("Too many reports or photos from this device or phone number: try later")}
PHOTO_EXAMPLE: dict[str, Any] = {"id": "gk3V0c8mQ2tqv9yKxJz1aWcE"}


def _desk(request: Request) -> OwnerDesk:
    desk: OwnerDesk = request.app.state.owner_desk
    return desk


def _device(request: Request, response: Response) -> str:
    """The device's cookie (made on its first request), else its address."""
    cookie = request.cookies.get(DEVICE_COOKIE)
    if cookie and 16 <= len(cookie) <= 64:
        return f"cookie:{cookie}"
    made = secrets.token_urlsafe(24)
    response.set_cookie(
        DEVICE_COOKIE, made, max_age=365 * 86400, httponly=True, samesite="strict", path="/api/v1/report"
    )
    client = request.client.host if request.client else "unknown"
    return f"address:{client}"


def _page_errors(exc: Exception) -> HTTPException:
    if isinstance(exc, TokenRefused):
        return HTTPException(status.HTTP_403_FORBIDDEN, str(exc))
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after_s)}
        return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers=headers)
    if isinstance(exc, PhotoRefused):
        return HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc))
    raise exc


# --- the page (open: the building token is the key) ------------------------------------------------------


class BuildingOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "site": "lakeside",
                    "site_name": "翠湖花园 Lakeside Gardens",
                    "building": "b1",
                    "building_name": "1号楼 Building 1",
                    "categories": list(CATEGORIES),
                    "expires": "2027-11-28T00:00:00Z",
                    "max_photos": 3,
                    "photo_max_bytes": 8388608,
                    "updates": True,
                }
            ]
        }
    )
    site: str = Field(description="Id of the compound")
    site_name: str = Field(description="The compound's name")
    building: str = Field(description="Id of the building the QR code is posted in")
    building_name: str = Field(description="The building's name")
    categories: list[str] = Field(description="What an owner may report, in the menu's order")
    expires: datetime = Field(description="When this QR code's token stops working")
    max_photos: int = Field(description="Photos one report may carry")
    photo_max_bytes: int = Field(description="The largest photo file the page may send")
    updates: bool = Field(description="Whether the desk can text a reporter of progress")


@page.get(
    "/building",
    summary="Check a QR code's building token",
    response_model=BuildingOut,
    responses={**REFUSED, **INVALID, **example(BuildingOut.model_json_schema()["examples"][0])},
)
def building(request: Request, response: Response, services: Services, token: BuildingToken) -> BuildingOut:
    """What the page shows before the form: the compound and building of the token (403 when it is bad).
    A device without one gets its ``fw_device`` cookie here, before it uploads or reports."""
    _device(request, response)
    desk = _desk(request)
    try:
        where = desk.building_pass(token, services.clock.now())
    except TokenRefused as exc:
        raise _page_errors(exc) from exc
    name = next(b.name for b in services.site.buildings if b.id == where.building)
    return BuildingOut(
        site=services.site.id,
        site_name=services.site.name,
        building=where.building,
        building_name=name,
        categories=list(CATEGORIES),
        expires=where.expires,
        max_photos=3,
        photo_max_bytes=desk.limits.photo_max_bytes,
        updates=desk.updates_url is not None,
    )


class PhotoOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [PHOTO_EXAMPLE]})
    id: str = Field(description="Name this photo in the report's `photos`")


@page.post(
    "/photos",
    summary="Upload a photo for a report",
    status_code=status.HTTP_201_CREATED,
    response_model=PhotoOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}, "example": "(JPEG bytes)"},
                "image/png": {"schema": {"type": "string", "format": "binary"}, "example": "(PNG bytes)"},
            },
        }
    },
    responses=body(
        REFUSED,
        LIMITED,
        INVALID,
        {409: _error("Never: uploads are not idempotent by key")},
        {415: _error("Not a JPEG or PNG photo, or one too large to decode")},
        example(PHOTO_EXAMPLE, 201),
    ),
)
async def upload_photo(
    request: Request,
    response: Response,
    services: Services,
    token: BuildingToken,
    location: Annotated[
        bool, Query(description="The owner agrees to share where the photo was taken")
    ] = False,
) -> PhotoOut:
    """One photo (the raw JPEG or PNG bytes): decoded and encoded again; its metadata (the GPS position
    included) is dropped unless ``location`` is true. Send the report with the ids of its photos."""
    data = await request.body()  # bounded: the body limit refuses a larger one before it is read
    device = _device(request, response)
    desk = _desk(request)
    try:
        pid = await run_in_threadpool(desk.add_photo, token, device, data, location, services.clock.now())
    except (TokenRefused, RateLimited, PhotoRefused) as exc:
        raise _page_errors(exc) from exc
    return PhotoOut(id=pid)


class ReportIn(TextIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "category": "leak",
                    "text": "地下车库B2入口顶棚漏水 Water dripping from the ceiling at the B2 garage entrance",
                    "unit": "1502",
                    "location": "B2 garage entrance",
                    "phone": "13812345678",
                    "photos": [PHOTO_EXAMPLE["id"]],
                    "updates": True,
                }
            ]
        },
    )
    category: Category = Field(description="What kind of problem")
    text: str = Field(min_length=1, max_length=2000, description="What the owner sees, in their words")
    unit: str | None = Field(default=None, max_length=32, description="The owner's unit (e.g. 1502)")
    location: str | None = Field(default=None, max_length=200, description="Where in the building")
    phone: str | None = Field(
        default=None,
        max_length=32,
        description="For a callback, and to earn points (masked but in the ticket)",
    )
    photos: list[str] = Field(
        default_factory=list, max_length=3, description="Ids of photos uploaded from this device, in order"
    )
    updates: bool = Field(default=False, description="Text progress to `phone` (when the desk can)")


class ReportOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": "Hh3mK0x9Yc1QeWbT2vZp8sLdNa4RfGjU", "ticket": "T-000012"}]}
    )
    id: str = Field(description="The report's status id: the status page's key (keep it)")
    ticket: str = Field(description="The property desk's reference of the report")


@page.post(
    "",
    summary="Send a report from the page",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportOut,
    responses=body(
        REFUSED,
        LIMITED,
        INVALID,
        {409: _error("A retry with the same Idempotency-Key is still being answered")},
        example(ReportOut.model_json_schema()["examples"][0], 201),
    ),
)
def send_report(
    request: Request, response: Response, services: Services, token: BuildingToken, report: ReportIn
) -> ReportOut:
    """Opens an owner ticket with the clocks of its category; the answer's ``id`` opens its status page."""
    device = _device(request, response)
    form = ReportForm(
        category=report.category,
        text=report.text,
        unit=report.unit,
        location=report.location,
        phone=report.phone or None,
        photos=tuple(report.photos),
        updates=report.updates,
    )
    if not report.text.strip():
        raise HTTPException(422, "say what is wrong")
    try:
        with http_errors():
            rid, ticket = _desk(request).submit(token, device, form, services.clock.now())
    except (TokenRefused, RateLimited) as exc:
        raise _page_errors(exc) from exc
    return ReportOut(id=rid, ticket=ticket)


class StepOut(BaseModel):
    at: datetime = Field(description="When")
    step: str = Field(description="received, acknowledged, dispatched, on_site, progress, plan_b, resolved …")
    note: str = Field(description="Only a plan B for the owners carries words")


class StatusOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "Hh3mK0x9Yc1QeWbT2vZp8sLdNa4RfGjU",
                    "ticket": "T-000012",
                    "building": "b1",
                    "category": "leak",
                    "unit": "1502",
                    "location": "B2 garage entrance",
                    "text": "Water dripping from the ceiling",
                    "created_at": "2026-11-28T08:00:00Z",
                    "state": "acknowledged",
                    "deadlines": {"acknowledge": "2026-11-28T08:10:00Z", "on_site": "2026-11-28T08:30:00Z"},
                    "steps": [{"at": "2026-11-28T08:00:00Z", "step": "received", "note": ""}],
                    "photos": 1,
                    "phone": "138****5678",
                    "progress_percent": None,
                    "eta": None,
                    "points": None,
                }
            ]
        }
    )
    id: str = Field(description="The report's status id")
    ticket: str = Field(description="The property desk's reference")
    building: str = Field(description="Id of the building")
    category: str = Field(description="What kind of problem")
    unit: str | None = Field(description="The owner's unit")
    location: str | None = Field(description="Where in the building")
    text: str = Field(description="What the owner wrote")
    created_at: datetime = Field(description="When it was reported")
    state: str = Field(description="The ticket's state")
    deadlines: dict[str, datetime | None] = Field(description="acknowledge, on_site, fixed (UTC) or null")
    steps: list[StepOut] = Field(description="What the property desk did, oldest first")
    photos: int = Field(description="How many photos the report carries")
    phone: str | None = Field(description="The callback number, masked")
    progress_percent: float | None = Field(description="The engineer's latest progress")
    eta: datetime | None = Field(description="When the engineer expects it fixed")
    points: int | None = Field(description="Points this report earned (null: not judged yet)")

    @classmethod
    def of(cls, s: ReportStatus) -> StatusOut:
        return cls(
            id=s.id,
            ticket=s.ticket,
            building=s.building,
            category=s.category,
            unit=s.unit,
            location=s.location,
            text=s.text,
            created_at=s.created_at,
            state=s.state.value,
            deadlines={
                "acknowledge": s.deadlines.acknowledge,
                "on_site": s.deadlines.on_site,
                "fixed": s.deadlines.fixed,
            },
            steps=[StepOut(at=x.at, step=x.step, note=x.note) for x in s.steps],
            photos=s.photos,
            phone=s.phone,
            progress_percent=s.progress_percent,
            eta=s.eta,
            points=s.points,
        )


STATUS_EXAMPLE = StatusOut.model_json_schema()["examples"][0]


@page.get(
    "/status/{report_id}",
    summary="Follow one report",
    response_model=StatusOut,
    responses={**missing("report"), **INVALID, **example(STATUS_EXAMPLE)},
)
def report_status(request: Request, report_id: ReportId) -> StatusOut:
    """The status page's data: only the report whose id is asked (the id is the key)."""
    with http_errors():
        return StatusOut.of(_desk(request).status(report_id))


PHOTO_ANSWER: Responses = {
    200: {"content": {"image/jpeg": {"example": "(JPEG bytes)"}, "image/png": {"example": "(PNG bytes)"}}},
    **missing("photo"),
    **INVALID,
}


@page.get(
    "/status/{report_id}/photos/{position}",
    summary="See a photo of one's report",
    response_class=Response,
    responses=PHOTO_ANSWER,
)
def status_photo(request: Request, report_id: ReportId, position: Position) -> Response:
    """A photo of the report, as kept (cleaned; never cached by a shared cache)."""
    with http_errors():
        data, media = _desk(request).photo(report_id, position)
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=3600"})
