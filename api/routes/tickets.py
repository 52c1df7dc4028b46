"""Tickets: list and filter, one with its timeline, owner-reported tickets, and the lifecycle's actions."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Query, Request, Response, status

from alerts.engine.ports import ActionRequest, OwnerReport, TicketQuery
from api.auth import Scope
from api.deps import Engineer, Services, Viewer
from api.errors import forbidden, http_errors, unprocessable
from api.responses import AUTHENTICATED, TOO_LARGE, ErrorOut, ValidationErrorOut, body, missing, page_of
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
from api.schemas import (
    ActionIn,
    OwnerTicketIn,
    PageOut,
    TicketDetailOut,
    TicketOut,
    ticket_dict,
)
from facwatch.model import Level, Site, TicketState

router = APIRouter(prefix="/tickets", tags=["tickets"], responses=AUTHENTICATED)
log = structlog.get_logger("api.tickets")

TicketId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get(
    "",
    summary="List tickets",
    response_model=PageOut[TicketOut],
    responses={**page_of(TicketOut), **missing("site")},
)
async def list_tickets(
    request: Request,
    services: Services,
    principal: Viewer,
    limit: Limit = 100,
    cursor: Cursor = None,
    site: SiteParam = None,
    building: Ident = None,
    asset: Ident = None,
    state: TicketState | None = None,
    level: Level | None = None,
    source: Annotated[str | None, Query(pattern="^(sensor|owner)$")] = None,
    since: TimeParam = None,
    until: TimeParam = None,
) -> Response:
    """Newest first; ``since``/``until`` bound when the ticket was created."""
    start, end = window(since, until)
    query = TicketQuery(
        site=site_filter(principal, site),
        building=building,
        asset=asset,
        state=state,
        level=level,
        source=source,
        since=start,
        until=end,
        limit=limit,
        cursor=cursor,
    )
    return await page_answer(request, lambda: services.alerts.list_tickets(query), ticket_dict)


@router.post(
    "",
    summary="Report a problem (open a ticket)",
    response_model=TicketDetailOut,
    status_code=status.HTTP_201_CREATED,
    responses=body(
        {422: {"model": ValidationErrorOut, "description": "Unknown building or asset, or a bad field"}}
    ),
)
def report(services: Services, principal: Engineer, body: OwnerTicketIn) -> TicketDetailOut:
    """An owner-reported problem: opens a ticket (source ``owner``) with a 10-minute acknowledge clock."""
    site = _report_site(services, principal, body.site)
    if all(b.id != body.building for b in site.buildings):
        raise unprocessable(f"unknown building {body.building!r} in site {site.id!r}")
    if body.asset is not None:
        asset = site.asset(body.asset)
        if asset is None:
            raise unprocessable(f"unknown asset {body.asset!r} in site {site.id!r}")
        if asset.building != body.building:
            raise unprocessable(
                f"asset {body.asset!r} is in building {asset.building!r}, not {body.building!r}"
            )
    request = OwnerReport(
        site=site.id,
        building=body.building,
        category=body.category,
        text=body.text.strip(),
        reporter=principal.name,
        unit=body.unit,
        asset=body.asset,
        photo_urls=tuple(str(url) for url in body.photo_urls),
        location=body.location,
    )
    if not request.text:
        raise unprocessable("text is empty")
    with http_errors():
        ticket = services.alerts.open_owner_ticket(request, services.clock.now())
    log.info("owner ticket", ticket_id=ticket.id, building=body.building, actor=principal.name)
    return TicketDetailOut.from_ticket(ticket)


@router.get(
    "/{ticket_id}",
    summary="Get one ticket",
    response_model=TicketDetailOut,
    responses=missing("ticket"),
)
def get_ticket(services: Services, principal: Viewer, ticket_id: TicketId) -> TicketDetailOut:
    """One ticket with its SLA deadlines and its whole timeline."""
    with http_errors():
        ticket = services.alerts.get_ticket(ticket_id)
    own(principal, ticket.site, f"no ticket {ticket_id}")
    return TicketDetailOut.from_ticket(ticket)


def _report_site(services: Services, principal: Engineer, site_id: str | None) -> Site:
    """The site of an owner's report: the one named, else the token's only site, else the API's first."""
    visible = services.visible_sites(principal)
    if site_id is None:
        if principal.sites is None:
            return services.site
        if len(visible) == 1:
            return visible[0]
        raise unprocessable("name the site: this token sees several")
    site = services.all_sites().get(site_id)
    if site is None or not principal.sees(site_id):
        served = ", ".join(repr(s.id) for s in visible)
        raise unprocessable(f"unknown site {site_id!r}; this API watches {served}")
    return site


@router.post(
    "/{ticket_id}/actions",
    summary="Act on a ticket",
    response_model=TicketDetailOut,
    responses={
        **TOO_LARGE,
        403: {
            "model": ErrorOut,
            "description": "A token without the scope, or an override_reason without manager",
        },
        404: {"model": ErrorOut, "description": "No such ticket"},
        409: {
            "model": ErrorOut,
            "description": "Not allowed in this state, or the ticket's alert still fires",
        },
        429: {
            "model": ErrorOut,
            "description": "Too many wrong check-in codes: try again after Retry-After seconds",
        },
    },
)
def act(services: Services, principal: Engineer, ticket_id: TicketId, body: ActionIn) -> TicketDetailOut:
    """Acknowledge, dispatch (assignee, eta), check in (the asset's code), progress (percent, eta), plan B,
    resolve, close, reopen, cancel, comment — as the ticket's lifecycle allows.

    Resolving, closing or cancelling a ticket whose alert still fires answers 409 naming the alert; a manager may
    override with ``override_reason`` (403 for anyone else). After 5 wrong check-in codes within 10 minutes,
    check-ins on the ticket (and by the token) answer 429 for 10 minutes; each refusal is in the timeline."""
    if body.override_reason is not None and not principal.allows(Scope.MANAGER):
        raise forbidden("only a manager may override: override_reason needs the manager scope")
    request = ActionRequest(
        action=body.action,
        actor=principal.name,
        note=body.note,
        checkin_code=body.checkin_code,
        assignee=body.assignee,
        eta=body.eta,
        percent=body.percent,
        plan_b=body.plan_b,
        override_reason=body.override_reason,
        cost=body.cost,
    )
    log.info("ticket action", ticket_id=ticket_id, action=body.action.value, actor=principal.name)
    if principal.sites is not None:
        with http_errors():
            site = services.alerts.get_ticket(ticket_id).site
        own(principal, site, f"no ticket {ticket_id}")
    with http_errors():
        ticket = services.alerts.act(ticket_id, request, services.clock.now())
        if not ticket.timeline:  # an implementation may answer without it; the caller wants it
            ticket = services.alerts.get_ticket(ticket_id)
    return TicketDetailOut.from_ticket(ticket)
