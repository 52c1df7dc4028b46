"""``GET /api/v1/sites`` and ``GET /api/v1/sites/{id}``: the compounds this API watches (those the token may
see), with their buildings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Services, Viewer
from api.errors import unprocessable
from api.responses import AUTHENTICATED, missing, page_of
from api.routes.common import Cursor, Limit
from api.schemas import PageOut, SiteOut

router = APIRouter(prefix="/sites", tags=["sites"], responses=AUTHENTICATED)


@router.get("", summary="List sites", response_model=PageOut[SiteOut], responses=page_of(SiteOut))
def list_sites(
    services: Services, principal: Viewer, limit: Limit = 100, cursor: Cursor = None
) -> PageOut[SiteOut]:
    """The sites this API serves that the token may see, by id, with their buildings and assets per kind."""
    sites = sorted(services.visible_sites(principal), key=lambda s: s.id)
    if cursor is not None:
        if all(s.id != cursor for s in sites):
            raise unprocessable(f"cursor {cursor!r} is not one this list gave out")
        sites = [s for s in sites if s.id > cursor]
    page = sites[:limit]
    more = len(sites) > limit
    return PageOut[SiteOut](items=[SiteOut.from_site(s) for s in page], next=page[-1].id if more else None)


@router.get(
    "/{site_id}",
    summary="Get one site",
    response_model=SiteOut,
    responses=missing("site"),
)
def get_site(
    services: Services, principal: Viewer, site_id: Annotated[str, Path(min_length=1, max_length=64)]
) -> SiteOut:
    """One site with its time zone, buildings and assets per kind."""
    return SiteOut.from_site(services.site_for(principal, site_id))
