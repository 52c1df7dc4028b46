"""Open routes: ``/healthz`` (the process lives), ``/readyz`` (its parts work), ``/metrics`` for Prometheus;
and ``/api/v1/health/datapath`` (a token needed): the data path's figures as the gateway's process reported
them to the state database (api/datapath.py), for the board.

``/healthz`` answers 200 whenever the process serves; a load balancer or systemd restarts on its failure.
``/readyz`` answers 200 only when every part this process runs works, else 503 naming each part that does
not and why: ``{"ready": false, "failing": {"state_db": "..."}, "checked": [...]}``. Its probes run in
threads under a deadline and are cached for a second (api/readiness.py), so it never hangs and a scrape
storm cannot hammer the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from api import datapath
from api.deps import Services, Viewer, read_in_thread
from api.readiness import Readiness
from api.responses import AUTHENTICATED, missing
from api.schemas_assets import HealthOut

router = APIRouter(tags=["health"])
api_router = APIRouter(tags=["health"], responses=AUTHENTICATED)
"""Routes under ``/api/v1`` (a token needed)."""


class ReadyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ready": False,
                    "failing": {"state_db": "connection refused"},
                    "checked": ["state_db", "telemetry"],
                }
            ]
        }
    )
    ready: bool = Field(description="Every part works")
    failing: dict[str, str] = Field(description="Each part that does not work, and why")
    """Each part that does not work, and why."""
    checked: list[str] = Field(description="The parts probed")
    """The parts this process runs, all probed."""


@router.get("/healthz", summary="Check that the process is alive", response_model=HealthOut)
def healthz(services: Services) -> HealthOut:
    """Answers 200 while the process runs: the site, the time and how many event subscribers there are. Probes nothing."""
    return HealthOut(
        status="ok", site=services.site.id, time=services.clock.now(), subscribers=services.bus.subscribers
    )


@router.get(
    "/readyz",
    summary="Check that the process is ready",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "A part does not work: `failing` names it"}},
)
async def readyz(request: Request) -> JSONResponse:
    """A fresh cached verdict at once; else one worker thread probes (the probes never block the event loop)
    while further callers wait for it without holding a thread each."""
    readiness: Readiness = request.app.state.readiness
    verdict = readiness.cached()
    if verdict is None:
        limiter: anyio.CapacityLimiter | None = getattr(request.app.state, "readyz_limiter", None)
        if limiter is None:  # made on first use: a limiter belongs to the running event loop
            limiter = request.app.state.readyz_limiter = anyio.CapacityLimiter(1)
        verdict = await anyio.to_thread.run_sync(readiness.verdict, limiter=limiter)
    body = ReadyOut(ready=verdict.ready, failing=dict(verdict.failing), checked=list(verdict.checked))
    return JSONResponse(body.model_dump(), status_code=200 if verdict.ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/plain": {
                    "example": 'facwatch_api_requests_total{method="GET",route="/healthz",status="200"} 3.0\n'
                }
            }
        }
    },
)
def metrics() -> Response:
    """The process's metrics in Prometheus' text format (open, for the scraper)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class DatapathOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "site": "lakeside",
                    "reported_at": "2024-05-01T08:00:00Z",
                    "age_s": 4.0,
                    "stale": False,
                    "figures": {
                        "readings_total": 120400.0,
                        "readings_per_s": 35.0,
                        "dead_letters": 2.0,
                        "spool_readings": 0.0,
                        "queue_depth": 0.0,
                    },
                    "streams": 1,
                }
            ]
        }
    )
    site: str = Field(description="Id of the site")
    reported_at: datetime | None = Field(description="When the gateway's process last reported; null: never")
    age_s: float | None = Field(
        description="Seconds since the gateway last reported, or null if it never did"
    )
    stale: bool = Field(description="No report, or none for 30 s: the figures say nothing about now")
    figures: dict[str, float | None] | None = Field(
        description="readings_total, readings_per_s, dead_letters, spool_readings, queue_depth"
    )
    streams: int = Field(description="Event streams open on this API process")


@api_router.get(
    "/health/datapath",
    summary="Get the data path's health",
    response_model=DatapathOut,
    responses=missing("site"),
)
async def datapath_health(
    request: Request,
    services: Services,
    principal: Viewer,
    site: Annotated[str | None, Query(max_length=64, description="The site (default: the first)")] = None,
) -> DatapathOut:
    """The data path of one site as the gateway's process last reported it (from the state database), with
    its age: an API process on its own shows the gateway's real figures, never its own zeros."""
    if site is None:
        visible = services.visible_sites(principal)
        site = (services.site if principal.sees(services.site.id) or not visible else visible[0]).id
    site = services.site_for(principal, site).id
    engine, now = services.tokens.engine, services.clock.now()
    body = await read_in_thread(request, lambda: datapath.latest(engine, site, now))
    return DatapathOut(**body, streams=services.bus.subscribers)
