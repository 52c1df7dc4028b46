"""``GET /api/v1/sites`` and ``GET /api/v1/sites/{id}``: the compound this API watches, with its buildings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Services, Viewer
from api.errors import not_found, unprocessable
from api.responses import AUTHENTICATED, missing, page_of
from api.routes.common import Cursor, Limit
from api.schemas import PageOut, SiteOut

router = APIRouter(prefix="/sites", tags=["sites"], responses=AUTHENTICATED)


@router.get("", summary="List sites", response_model=PageOut[SiteOut], responses=page_of(SiteOut))
def list_sites(services: Services, _: Viewer, limit: Limit = 100, cursor: Cursor = None) -> PageOut[SiteOut]:
    """The sites this API serves, with their buildings and assets per kind."""
    # One process watches one site today; the list shape (and its cursor) is ready for more.
    if cursor is not None:
        raise unprocessable(f"cursor {cursor!r} is not one this list gave out")
    return PageOut[SiteOut](items=[SiteOut.from_site(services.site)][:limit], next=None)


@router.get(
    "/{site_id}",
    summary="Get one site",
    response_model=SiteOut,
    responses=missing("site"),
)
def get_site(
    services: Services, _: Viewer, site_id: Annotated[str, Path(min_length=1, max_length=64)]
) -> SiteOut:
    """One site with its time zone, buildings and assets per kind."""
    if site_id != services.site.id:
        raise not_found(f"no site {site_id!r}; this API watches {services.site.id!r}")
    return SiteOut.from_site(services.site)
