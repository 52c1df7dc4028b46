"""``GET /api/v1/dead-letters``: what the gateway set aside, newest first, with counts per reason."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Engineer, Services
from api.errors import http_errors
from api.responses import AUTHENTICATED
from api.routes.common import Cursor, Limit, every_site
from api.schemas_assets import DeadLetterOut, DeadLetterPageOut

router = APIRouter(prefix="/dead-letters", tags=["dead letters"], responses=AUTHENTICATED)


@router.get("", summary="List dead letters", response_model=DeadLetterPageOut)
def list_dead_letters(
    services: Services, principal: Engineer, limit: Limit = 100, cursor: Cursor = None
) -> DeadLetterPageOut:
    """Messages the gateway could not take (bad topic, bad payload, unknown asset), newest first, with counts per reason.
    A token limited to sites gets 403: a bad message may name no site, or another one."""
    every_site(principal, "dead letters")
    with http_errors():
        page = services.dead_letters.list(limit, cursor)
    counts = services.dead_letters.counts()
    return DeadLetterPageOut(
        items=[DeadLetterOut.from_letter(letter) for letter in page.items], next=page.next, counts=counts
    )
