"""Query parameters shared by the list routes: ``?limit=N&cursor=C`` and time windows ``since``/``until``;
and how a list route answers a page (``page_answer``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Query, Request, Response

from api.auth import Principal
from api.deps import read_in_thread
from api.errors import forbidden, http_errors, not_found, unprocessable
from api.params import parse_time
from api.schemas import page_response
from facwatch.model import Page, utc_from_ms

T = TypeVar("T")

MAX_LIMIT = 1000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=500, description="`next` of the previous page")]
Ident = Annotated[str | None, Query(max_length=64)]
TimeParam = Annotated[
    str | None,
    Query(
        max_length=64,
        description="ISO-8601 (naive means UTC) or epoch milliseconds",
        examples=["2024-05-01T00:00:00Z"],
    ),
]


def window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """``since``/``until`` as UTC datetimes; 422 naming the parameter when one is not a time or they cross."""
    try:
        start = None if since is None else utc_from_ms(parse_time(since, "since"))
        end = None if until is None else utc_from_ms(parse_time(until, "until"))
    except (ValueError, OverflowError, OSError) as exc:
        raise unprocessable(str(exc) if isinstance(exc, ValueError) else "time out of range") from exc
    if start is not None and end is not None and end <= start:
        raise unprocessable("until must be after since")
    return start, end


SiteParam = Annotated[
    str | None, Query(max_length=64, description="Only this site (default: every site the token may see)")
]


def site_filter(principal: Principal, site: str | None) -> str | tuple[str, ...] | None:
    """A list's site filter: ``?site=`` (404 for a site the token may not see), else the token's sites
    (None: a token that sees every site)."""
    if site is not None:
        if not principal.sees(site):
            raise not_found(f"no site {site!r}")
        return site
    return None if principal.sites is None else tuple(sorted(principal.sites))


def own(principal: Principal, site: str, message: str) -> None:
    """404 with ``message`` when the object's site is one the token may not see (as if it did not exist)."""
    if not principal.sees(site):
        raise not_found(message)


def every_site(principal: Principal, what: str) -> None:
    """403 for a token limited to sites, on what serves every site at once."""
    if principal.sites is not None:
        raise forbidden(f"{what} serve every site: a token limited to sites may not use them")


async def page_answer(
    request: Request, read: Callable[[], Page[T]], item_json: Callable[[T], dict[str, object]]
) -> Response:
    """A list's page as its JSON body (``{"items": [...], "next": cursor}``), read in a worker thread
    (``read_in_thread``); the engine's errors (a bad cursor, a store outage) answered as HTTP errors."""

    def answer() -> Response:
        page = read()
        return page_response([item_json(item) for item in page.items], page.next)

    with http_errors():
        return await read_in_thread(request, answer)
