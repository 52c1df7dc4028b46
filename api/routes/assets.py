"""Assets of a site with their latest values, and the history of one channel of one asset.

``?site=`` names the site (default: the API's first site, or a token's only one); a site the token may not
see answers 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.auth import Principal
from api.deps import ApiServices, Services, Viewer
from api.errors import not_found, unprocessable
from api.params import parse_every, parse_fn, parse_id_cursor, parse_time
from api.responses import AUTHENTICATED, missing, page_of
from api.routes.common import Cursor, Limit
from api.schemas import PageOut
from api.schemas_assets import AssetOut, PointOut, ReadingsOut
from facwatch.model import Site, TelemetryQuery, utc_from_ms

router = APIRouter(prefix="/assets", tags=["assets"], responses=AUTHENTICATED)

MAX_WINDOWS = 100_000
"""A history query may ask for at most this many aggregation windows."""
RAW_LIMIT = 10_000
"""Raw points one answer holds by default; ``limit`` may ask for up to ``MAX_RAW``."""
MAX_RAW = 50_000
"""Raw points one answer holds at most; past it the caller asks for windows (``every=``)."""

AssetId = Annotated[str, Path(min_length=1, max_length=64)]


SiteParam = Annotated[
    str | None, Query(max_length=64, description="The asset's site (default: the first site the token sees)")
]


def _site(services: ApiServices, principal: Principal, site: str | None) -> Site:
    if site is not None:
        return services.site_for(principal, site)
    if principal.sees(services.site.id):
        return services.site
    visible = services.visible_sites(principal)
    if not visible:
        raise not_found("this token sees none of the sites this API serves")
    return visible[0]


def _offset(cursor: str | None) -> int:
    try:
        return parse_id_cursor(cursor) or 0
    except ValueError as exc:
        raise unprocessable(str(exc)) from exc


@router.get(
    "",
    summary="List assets",
    response_model=PageOut[AssetOut],
    responses={**page_of(AssetOut), **missing("site")},
)
def list_assets(
    services: Services,
    principal: Viewer,
    limit: Limit = 100,
    cursor: Cursor = None,
    building: Annotated[str | None, Query(max_length=64)] = None,
    site: SiteParam = None,
) -> PageOut[AssetOut]:
    """The site's assets with their kind, building, rated values and last reading, by id."""
    place = _site(services, principal, site)
    names = {b.id: b.name for b in place.buildings}
    assets = [a for a in place.assets if building is None or a.building == building]
    start = _offset(cursor)
    chosen = assets[start : start + limit]
    items = [
        AssetOut.from_asset(
            place.id, a, names.get(a.building, a.building), services.telemetry.latest(place.id, a.id)
        )
        for a in chosen
    ]
    more = start + limit < len(assets)
    return PageOut[AssetOut](items=items, next=str(start + limit) if more else None)


@router.get(
    "/{asset_id}",
    summary="Get one asset",
    response_model=AssetOut,
    responses=missing("asset"),
)
def get_asset(services: Services, principal: Viewer, asset_id: AssetId, site: SiteParam = None) -> AssetOut:
    """One asset with its rated values and the latest value of every channel."""
    place = _site(services, principal, site)
    asset = place.asset(asset_id)
    if asset is None:
        raise not_found(f"no asset {asset_id!r} in site {place.id!r}")
    names = {b.id: b.name for b in place.buildings}
    latest = services.telemetry.latest(place.id, asset.id)
    return AssetOut.from_asset(place.id, asset, names.get(asset.building, asset.building), latest)


@router.get(
    "/{asset_id}/readings",
    summary="Read an asset's channel history",
    response_model=ReadingsOut,
    responses=missing("asset or site"),
)
def readings(
    services: Services,
    principal: Viewer,
    asset_id: AssetId,
    channel: Annotated[str, Query(min_length=1, max_length=64)],
    start: Annotated[str, Query(max_length=64, description="ISO-8601 or epoch milliseconds")],
    end: Annotated[str, Query(max_length=64, description="ISO-8601 or epoch milliseconds")],
    every: Annotated[
        str | None, Query(max_length=32, description="Window length: 60s, 5m, 1h; raw points without")
    ] = None,
    fn: Annotated[
        str, Query(max_length=16, description="Aggregate per window: mean, min, max, sum, count, first, last")
    ] = "mean",
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_RAW,
            description="Raw points at most; a window holding more answers 422 (ask for `every=`)",
        ),
    ] = RAW_LIMIT,
    site: SiteParam = None,
) -> ReadingsOut:
    """Raw points (at most ``limit``: more is a 422 that asks for ``every=``), or one aggregate per window."""
    place = _site(services, principal, site)
    if place.asset(asset_id) is None:
        raise not_found(f"no asset {asset_id!r} in site {place.id!r}")
    try:
        start_ms = parse_time(start, "start")
        end_ms = parse_time(end, "end")
        every_ms = parse_every(every) if every is not None else None
        function = parse_fn(fn)
    except ValueError as exc:
        raise unprocessable(str(exc)) from exc
    if end_ms <= start_ms:
        raise unprocessable("end must be after start")
    if every_ms is not None and (end_ms - start_ms) // every_ms > MAX_WINDOWS:
        raise unprocessable(f"more than {MAX_WINDOWS} windows of {every}: choose a longer every")
    cap = limit if every_ms is None else None
    try:
        query = TelemetryQuery(
            place.id, asset_id, channel, start_ms, end_ms, every_ms, function, cap if cap is None else cap + 1
        )
        points = services.telemetry.query(query)
    except ValueError as exc:
        raise unprocessable(str(exc)) from exc
    if cap is not None and len(points) > cap:
        raise unprocessable(
            f"more than {cap} raw points between start and end: ask for windows (every=60s, 5m, 1h ...) "
            "or a shorter span"
        )
    return ReadingsOut(
        asset=asset_id,
        channel=channel,
        start=utc_from_ms(start_ms),
        end=utc_from_ms(end_ms),
        every_s=None if every_ms is None else every_ms / 1000,
        fn=function if every_ms is not None else None,
        points=[PointOut(ts=utc_from_ms(p.ts_ms), channel=p.channel, value=p.value) for p in points],
    )
