"""``GET /api/v1/alerts``: firing first, worst level first, newest first (the order of ``AlertsApi``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Services, Viewer
from api.errors import http_errors
from api.routes.common import Cursor, Limit
from api.schemas import AlertOut, PageOut
from facwatch.model import AlertState, Level

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", response_model=PageOut[AlertOut])
def list_alerts(
    services: Services,
    _: Viewer,
    limit: Limit = 100,
    cursor: Cursor = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    asset: Annotated[str | None, Query(max_length=64)] = None,
    level: Level | None = None,
    state: AlertState | None = None,
) -> PageOut[AlertOut]:
    with http_errors():
        page = services.alerts.list_alerts(
            site=site, asset=asset, level=level, state=state, limit=limit, cursor=cursor
        )
    return PageOut[AlertOut](items=[AlertOut.from_alert(a) for a in page.items], next=page.next)
