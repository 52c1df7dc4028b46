"""Maintenance windows and visits (docs/maintenance.md), engineer scope.

``POST /maintenance/windows`` plans a window on an asset (during it, non-RED alerts on the asset are
recorded "during maintenance" and nobody is told; a RED is told as always); ``GET`` lists the site file's
windows (``S-lift-0305``, ``S-b1-elev-1-20250305T0900``…) and the API's (``W-000001``…); ``DELETE /maintenance/windows/{ref}`` cancels one of the
API's and ``PATCH`` moves it (owners who were told of it hear that it is cancelled or moved). ``POST /maintenance/visits`` records a visit, which restarts the asset's plan clock (its overdue
alert clears); ``GET /maintenance/visits`` lists them.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from alerts.engine.maintenance_db import MaintenanceBook, Visit
from api.deps import ApiServices, Engineer, Services
from api.errors import http_errors
from api.responses import AUTHENTICATED, body, missing
from api.routes.common import Ident, TimeParam, window
from api.text import TextIn
from facwatch.model import MaintenanceWindow

router = APIRouter(prefix="/maintenance", tags=["maintenance"], responses=AUTHENTICATED)
_lock = threading.Lock()
WindowRef = Annotated[str, Path(pattern=r"^[A-Z]-[0-9]{1,9}$", description="The window's reference")]
WINDOW_EXAMPLE: dict[str, JsonValue] = {
    "ref": "W-000001",
    "asset": "b1-elev-1",
    "start": "2025-03-05T01:00:00Z",
    "end": "2025-03-05T03:00:00Z",
    "company": "sh-lift",
    "what": "半月保养 half-monthly maintenance",
    "source": "api",
}
VISIT_EXAMPLE: dict[str, JsonValue] = {
    "ref": "V-000001",
    "asset": "b1-elev-1",
    "building": "b1",
    "company": "sh-lift",
    "who": "李师傅 Li",
    "at": "2025-03-05T02:40:00Z",
    "what": "半月保养：门机、曳引机、制动器检查 door operator, machine and brake checked",
    "photos": ["https://photos.example/v1.jpg"],
    "kind": "maintenance",
}


def book(request: Request, services: ApiServices) -> MaintenanceBook:
    """One book per app (its engine is the state database's)."""
    with _lock:
        found: MaintenanceBook | None = getattr(request.app.state, "maintenance", None)
        if found is None:
            found = MaintenanceBook(services.tokens.engine, services.site)
            request.app.state.maintenance = found
        return found


class WindowIn(TextIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{k: v for k, v in WINDOW_EXAMPLE.items() if k not in ("ref", "source")}]
        },
    )
    asset: str = Field(min_length=1, max_length=64, description="The asset under maintenance")
    start: datetime = Field(description="When the work starts (ISO-8601 with an offset)")
    end: datetime = Field(description="When the work ends (after start)")
    company: str | None = Field(default=None, max_length=64, description="The maintenance company's id")
    what: str = Field(default="", max_length=500, description="What will be done, as owners may read it")


class WindowOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [WINDOW_EXAMPLE]})
    ref: str = Field(description="``W-000001`` (the API's) or ``S-<ref>`` (the site file's)")
    asset: str = Field(description="The asset under maintenance")
    start: datetime = Field(description="When the work starts (UTC)")
    end: datetime = Field(description="When the work ends (UTC)")
    company: str | None = Field(description="The maintenance company's id, if named")
    what: str = Field(description="What is done")
    source: str = Field(description="``api`` or ``site`` (the site file's windows change in the site file)")

    @classmethod
    def of(cls, w: MaintenanceWindow) -> WindowOut:
        source = "site" if w.ref.startswith("S-") else "api"
        return cls(
            ref=w.ref, asset=w.asset, start=w.start, end=w.end, company=w.company, what=w.what, source=source
        )


class WindowsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [WINDOW_EXAMPLE], "next": None}]})
    items: list[WindowOut] = Field(description="The windows, by start")


class VisitIn(TextIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{k: v for k, v in VISIT_EXAMPLE.items() if k not in ("ref", "building")}]
        },
    )
    asset: str = Field(min_length=1, max_length=64, description="The asset visited")
    who: str = Field(min_length=1, max_length=200, description="Who did the work")
    company: str | None = Field(default=None, max_length=64, description="The maintenance company's id")
    at: datetime = Field(description="When the visit was (ISO-8601 with an offset)")
    what: str = Field(min_length=1, max_length=4000, description="What was done")
    photos: list[str] = Field(default_factory=list, max_length=20, description="References to photos")
    kind: Literal["maintenance", "inspection"] = Field(
        default="maintenance", description="A visit of the plan, or the yearly inspection (检验)"
    )


class VisitOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [VISIT_EXAMPLE]})
    ref: str = Field(description="``V-000001``")
    asset: str = Field(description="The asset visited")
    building: str = Field(description="Its building")
    company: str | None = Field(description="The maintenance company's id, if named")
    who: str = Field(description="Who did the work")
    at: datetime = Field(description="When (UTC)")
    what: str = Field(description="What was done")
    photos: list[str] = Field(description="References to photos")
    kind: str = Field(default="maintenance", description="``maintenance`` or ``inspection``")

    @classmethod
    def of(cls, v: Visit) -> VisitOut:
        return cls(
            ref=v.ref,
            asset=v.asset,
            building=v.building,
            company=v.company,
            who=v.who,
            at=v.at,
            what=v.what,
            photos=list(v.photos),
            kind=v.kind,
        )


class VisitsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [VISIT_EXAMPLE], "next": None}]})
    items: list[VisitOut] = Field(description="The visits, by time")


@router.post(
    "/windows",
    summary="Plan a maintenance window",
    status_code=status.HTTP_201_CREATED,
    response_model=WindowOut,
    responses=body(),
)
def add_window(request: Request, services: Services, who: Engineer, payload: WindowIn) -> WindowOut:
    """A window on an asset: non-RED alerts during it are recorded, not notified; owners are told the day
    before and when it is over. 422 for an unknown asset or company, or an end before the start."""
    planned = MaintenanceWindow("", payload.asset, payload.start, payload.end, payload.company, payload.what)
    with http_errors():
        saved = book(request, services).add_window(planned, who.name, services.clock.now())
    return WindowOut.of(saved)


@router.get("/windows", summary="List maintenance windows", response_model=WindowsOut)
def list_windows(request: Request, services: Services, _: Engineer, asset: Ident = None) -> WindowsOut:
    """The site file's windows and the API's that are not cancelled (of ``asset``), by start."""
    with http_errors():
        found = book(request, services).windows(asset)
    return WindowsOut(items=[WindowOut.of(w) for w in found])


@router.delete(
    "/windows/{ref}",
    summary="Cancel a maintenance window",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=missing("window"),
)
def delete_window(request: Request, services: Services, _: Engineer, ref: WindowRef) -> Response:
    """Cancel one of the API's windows (``W-…``); the site file's are changed in the site file (404)."""
    with http_errors():
        book(request, services).delete_window(ref, services.clock.now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class WindowMove(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"start": "2025-03-06T01:00:00Z", "end": "2025-03-06T03:00:00Z"}]},
    )
    start: datetime = Field(description="The new start (ISO-8601 with an offset)")
    end: datetime = Field(description="The new end (after start)")


@router.patch(
    "/windows/{ref}",
    summary="Move a maintenance window",
    response_model=WindowOut,
    responses={**body(), **missing("window")},
)
def move_window(
    request: Request, services: Services, _: Engineer, ref: WindowRef, payload: WindowMove
) -> WindowOut:
    """Move one of the API's windows (``W-…``) to another time; owners who were told of it hear the new
    time. 404 for the site file's windows (changed in the site file) and cancelled ones."""
    with http_errors():
        moved = book(request, services).move_window(ref, payload.start, payload.end, services.clock.now())
    return WindowOut.of(moved)


@router.post(
    "/visits",
    summary="Record a maintenance visit",
    status_code=status.HTTP_201_CREATED,
    response_model=VisitOut,
    responses=body(),
)
def add_visit(request: Request, services: Services, who: Engineer, payload: VisitIn) -> VisitOut:
    """Who visited, when and what was done: the asset's plan clock restarts, so its overdue alert clears.
    422 for an unknown asset or company."""
    with http_errors():
        saved = book(request, services).add_visit(
            asset=payload.asset,
            who=payload.who,
            company=payload.company,
            at=payload.at,
            what=payload.what,
            photos=payload.photos,
            actor=who.name,
            now=services.clock.now(),
            kind=payload.kind,
        )
    return VisitOut.of(saved)


@router.get("/visits", summary="List maintenance visits", response_model=VisitsOut)
def list_visits(
    request: Request,
    services: Services,
    _: Engineer,
    asset: Ident = None,
    since: TimeParam = None,
    until: TimeParam = None,
) -> VisitsOut:
    """Visits in ``[since, until)`` (by default the last 90 days), of ``asset``, by time."""
    start, end = window(since, until)
    end = end or services.clock.now()
    start = start or end - timedelta(days=90)
    with http_errors():
        found = book(request, services).visits(start, end, asset)
    return VisitsOut(items=[VisitOut.of(v) for v in found])
