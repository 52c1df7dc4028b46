"""Query parameters shared by the list routes: ``?limit=N&cursor=C``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

MAX_LIMIT = 1000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=500, description="`next` of the previous page")]
