"""Reports a property company publishes to its owners: SLA compliance, and incidents by month or quarter."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.auth import Principal
from api.deps import Manager, Services
from api.errors import http_errors, not_found, unprocessable
from api.responses import AUTHENTICATED, missing
from api.routes.common import Ident, TimeParam, window
from api.schemas_reports import IncidentReportOut, IncidentRowOut, SlaReportOut, SlaRowOut

router = APIRouter(prefix="/reports", tags=["reports"], responses=AUTHENTICATED)

MAX_SPAN = timedelta(days=3 * 366)
"""A report covers at most three years (a bound on the work one request can ask for)."""


def _site(principal: Principal, site: str | None) -> str | None:
    """The report's site: ``?site=`` (404 for one the token may not see); a token limited to one site reports
    on it, one limited to several names one."""
    if site is not None:
        if not principal.sees(site):
            raise not_found(f"no site {site!r}")
        return site
    if principal.sites is None:
        return None
    if len(principal.sites) == 1:
        return next(iter(principal.sites))
    raise unprocessable("name the site (?site=): this token sees several")


def _span(
    since: str | None, until: str | None, now: datetime, default: timedelta
) -> tuple[datetime, datetime]:
    start, end = window(since, until)
    end = end or now
    start = start or end - default
    if end <= start:
        raise unprocessable("until must be after since")
    if end - start > MAX_SPAN:
        raise unprocessable("a report covers at most three years")
    return start, end


@router.get("/sla", summary="Report SLA performance", response_model=SlaReportOut, responses=missing("site"))
def sla(
    services: Services,
    principal: Manager,
    site: Ident = None,
    since: TimeParam = None,
    until: TimeParam = None,
) -> SlaReportOut:
    """Per site and level: tickets, how many were acknowledged, reached, fixed; p50/p90 times; breaches.
    Tickets created in ``[since, until)``; by default the last 30 days."""
    start, end = _span(since, until, services.clock.now(), timedelta(days=30))
    with http_errors():
        rows = services.alerts.sla_report(site=_site(principal, site), since=start, until=end)
    return SlaReportOut(
        since=start, until=end, rows=[SlaRowOut.model_validate(row, from_attributes=True) for row in rows]
    )


@router.get(
    "/incidents",
    summary="Report incidents per period",
    response_model=IncidentReportOut,
    responses=missing("site"),
)
def incidents(
    services: Services,
    principal: Manager,
    period: Annotated[Literal["month", "quarter"], Query()] = "month",
    site: Ident = None,
    since: TimeParam = None,
    until: TimeParam = None,
) -> IncidentReportOut:
    """Alerts opened in ``[since, until)`` per period (site time zone), asset and kind; default the last year."""
    start, end = _span(since, until, services.clock.now(), timedelta(days=365))
    with http_errors():
        rows = services.alerts.incident_report(
            site=_site(principal, site), since=start, until=end, period=period
        )
    return IncidentReportOut(
        since=start,
        until=end,
        period=period,
        rows=[IncidentRowOut.model_validate(row, from_attributes=True) for row in rows],
    )
