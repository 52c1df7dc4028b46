"""``GET /api/v1/dead-letters``: what the gateway set aside, newest first, with counts per reason."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Engineer, Services
from api.errors import http_errors
from api.routes.common import Cursor, Limit
from api.schemas import DeadLetterOut, DeadLetterPageOut

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


@router.get("", response_model=DeadLetterPageOut)
def list_dead_letters(
    services: Services, _: Engineer, limit: Limit = 100, cursor: Cursor = None
) -> DeadLetterPageOut:
    with http_errors():
        page = services.dead_letters.list(limit, cursor)
    counts = services.dead_letters.counts()
    return DeadLetterPageOut(
        items=[DeadLetterOut.from_letter(letter) for letter in page.items], next=page.next, counts=counts
    )
