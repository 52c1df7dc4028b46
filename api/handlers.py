"""How the API answers a request it cannot take (422) or a failure of its own (500), in one place.

- Validation errors say where and what, with at most a short excerpt of the input (never the input whole:
  a 1 MiB string is not echoed back).
- An unexpected exception answers 500 with a reference (``ref``) and no traceback; the log has the
  traceback under the same reference, so an operator can find it from what the caller reports.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.errors import UNPROCESSABLE
from api.text import printable

log = structlog.get_logger("api.errors")

EXCERPT = 80
"""Characters of a rejected input shown back to the caller, at most."""
MAX_ERRORS = 20
"""Validation errors listed, at most (the rest are counted)."""


def excerpt(value: object, size: int = EXCERPT) -> str | int | float | bool | None:
    """A scalar as it is, anything else (or a long text) cut to ``size`` characters of its repr."""
    if value is None or isinstance(value, bool | int | float):
        return value if not isinstance(value, int) or abs(value) < 10**18 else _cut(str(value), size)
    text = value if isinstance(value, str) else repr(value)
    return _cut(text, size)


def _cut(text: str, size: int) -> str:
    text = text if len(text) <= size else text[:size] + f"… ({len(text)} characters)"
    return printable(text)  # a lone surrogate quoted back must not break the answer


def short_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without ``ctx``/``url`` and with the input cut to an excerpt."""
    out: list[dict[str, Any]] = []
    for error in errors[:MAX_ERRORS]:
        item: dict[str, Any] = {
            "loc": [excerpt(part, 40) for part in error.get("loc", ())],
            "msg": _cut(str(error.get("msg", "")), 300),
            "type": str(error.get("type", "")),
        }
        if "input" in error:
            item["input"] = excerpt(error["input"])
        out.append(item)
    if len(errors) > MAX_ERRORS:
        out.append({"loc": [], "msg": f"and {len(errors) - MAX_ERRORS} more errors", "type": "more"})
    return out


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": short_errors(errors)}, status_code=UNPROCESSABLE)


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    ref = uuid.uuid4().hex[:12]
    log.error("internal error", ref=ref, path=request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error", "ref": ref}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _internal)
