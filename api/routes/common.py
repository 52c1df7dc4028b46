"""Query parameters shared by the list routes: ``?limit=N&cursor=C`` and time windows ``since``/``until``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query

from api.errors import unprocessable
from api.params import parse_time
from facwatch.model import utc_from_ms

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
