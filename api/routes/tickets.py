"""Tickets: list, one with its timeline, and actions (acknowledge, dispatch, check in, resolve, ...)."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Query

from alerts.ports import ActionRequest
from api.deps import Engineer, Services, Viewer
from api.errors import http_errors
from api.routes.common import Cursor, Limit
from api.schemas import ActionIn, PageOut, TicketDetailOut, TicketOut
from facwatch.model import TicketState

router = APIRouter(prefix="/tickets", tags=["tickets"])
log = structlog.get_logger("api.tickets")

TicketId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("", response_model=PageOut[TicketOut])
def list_tickets(
    services: Services,
    _: Viewer,
    limit: Limit = 100,
    cursor: Cursor = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    asset: Annotated[str | None, Query(max_length=64)] = None,
    state: TicketState | None = None,
) -> PageOut[TicketOut]:
    with http_errors():
        page = services.alerts.list_tickets(site=site, asset=asset, state=state, limit=limit, cursor=cursor)
    return PageOut[TicketOut](items=[TicketOut.from_ticket(t) for t in page.items], next=page.next)


@router.get("/{ticket_id}", response_model=TicketDetailOut)
def get_ticket(services: Services, _: Viewer, ticket_id: TicketId) -> TicketDetailOut:
    with http_errors():
        ticket = services.alerts.get_ticket(ticket_id)
    return TicketDetailOut.from_ticket(ticket)


@router.post(
    "/{ticket_id}/actions",
    response_model=TicketDetailOut,
    responses={404: {"description": "No such ticket"}, 409: {"description": "Not allowed in this state"}},
)
def act(services: Services, principal: Engineer, ticket_id: TicketId, body: ActionIn) -> TicketDetailOut:
    request = ActionRequest(
        action=body.action,
        actor=principal.name,
        note=body.note,
        checkin_code=body.checkin_code,
        assignee=body.assignee,
        eta=body.eta,
        percent=body.percent,
    )
    log.info("ticket action", ticket_id=ticket_id, action=body.action.value, actor=principal.name)
    with http_errors():
        ticket = services.alerts.act(ticket_id, request, services.clock.now())
        if not ticket.timeline:  # an implementation may answer without it; the caller wants it
            ticket = services.alerts.get_ticket(ticket_id)
    return TicketDetailOut.from_ticket(ticket)
