"""Alerts: the list (firing first, worst level first, newest first), one alert, acknowledge and silence."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Request, Response

from alerts.engine.ports import AlertQuery
from api.deps import Engineer, Manager, Services, Viewer
from api.errors import http_errors, unprocessable
from api.responses import AUTHENTICATED, body, missing, page_of
from api.routes.common import (
    Cursor,
    Ident,
    Limit,
    SiteParam,
    TimeParam,
    own,
    page_answer,
    site_filter,
    window,
)
from api.schemas import AlertOut, PageOut, SilenceIn, alert_dict
from facwatch.model import AlertState, Level

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=AUTHENTICATED)
log = structlog.get_logger("api.alerts")

AlertId = Annotated[str, Path(min_length=1, max_length=64)]
NOT_FOUND = missing("alert")


@router.get(
    "",
    summary="List alerts",
    response_model=PageOut[AlertOut],
    responses={**page_of(AlertOut), **missing("site")},
)
async def list_alerts(
    request: Request,
    services: Services,
    principal: Viewer,
    limit: Limit = 100,
    cursor: Cursor = None,
    site: SiteParam = None,
    building: Ident = None,
    asset: Ident = None,
    level: Level | None = None,
    state: AlertState | None = None,
    since: TimeParam = None,
    until: TimeParam = None,
) -> Response:
    """``since``/``until`` bound when the alert opened: ``since <= opened_at < until``."""
    start, end = window(since, until)
    query = AlertQuery(
        site=site_filter(principal, site),
        building=building,
        asset=asset,
        level=level,
        state=state,
        since=start,
        until=end,
        limit=limit,
        cursor=cursor,
    )
    return await page_answer(request, lambda: services.alerts.list_alerts(query), alert_dict)


@router.get("/{alert_id}", summary="Get one alert", response_model=AlertOut, responses=NOT_FOUND)
def get_alert(services: Services, principal: Viewer, alert_id: AlertId) -> AlertOut:
    """One alert with its level, state, times and why it fired."""
    with http_errors():
        alert = services.alerts.get_alert(alert_id)
    own(principal, alert.site, f"no alert {alert_id}")
    return AlertOut.from_alert(alert)


def _check_site(services: Services, principal: Viewer, alert_id: str) -> None:
    """404 for an alert of a site the token may not see, before anything changes."""
    if principal.sites is not None:
        with http_errors():
            alert = services.alerts.get_alert(alert_id)
        own(principal, alert.site, f"no alert {alert_id}")


@router.post(
    "/{alert_id}/acknowledge", summary="Acknowledge an alert", response_model=AlertOut, responses=NOT_FOUND
)
def acknowledge(services: Services, principal: Engineer, alert_id: AlertId) -> AlertOut:
    """Someone has seen it: stops the acknowledge clock of its ticket (the on-site clock keeps running)."""
    log.info("alert acknowledge", alert_id=alert_id, actor=principal.name)
    _check_site(services, principal, alert_id)
    with http_errors():
        alert = services.alerts.acknowledge_alert(alert_id, principal.name, services.clock.now())
    return AlertOut.from_alert(alert)


@router.post(
    "/{alert_id}/silence", summary="Silence an alert", response_model=AlertOut, responses=body(NOT_FOUND)
)
def silence(services: Services, principal: Manager, alert_id: AlertId, body: SilenceIn) -> AlertOut:
    """Notify nobody about this alert until a time (changes are still recorded and shown)."""
    _check_site(services, principal, alert_id)
    now = services.clock.now()
    if (body.until is None) == (body.duration_s is None):
        raise unprocessable("give either until or duration_s")
    until = body.until if body.until is not None else now + timedelta(seconds=body.duration_s or 0)
    if until <= now:
        raise unprocessable("until must be in the future")
    if not body.reason.strip():
        raise unprocessable("a silence needs a reason")
    if until > now + timedelta(days=30):
        raise unprocessable("an alert can be silenced for at most 30 days")
    log.info("alert silence", alert_id=alert_id, actor=principal.name, until=until.isoformat())
    with http_errors():
        alert = services.alerts.silence_alert(
            alert_id, until=until, reason=body.reason.strip(), actor=principal.name, now=now
        )
    return AlertOut.from_alert(alert)
