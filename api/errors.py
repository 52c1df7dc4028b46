"""Domain errors mapped to HTTP answers, in one place (``HTTPException`` lives only in ``api``).

NotFound           404
IllegalTransition  409, naming the ticket's state and the refused action
CheckInRefused     422, "check-in refused: ..." (arrival must be proven with the asset's code)
ValueError         422 (a bad cursor, a bad field for this action)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException, status

from alerts.engine.errors import CheckInRefused, IllegalTransition, NotFound

UNPROCESSABLE = 422
"""Spelled out: starlette renamed its constant (…_ENTITY → …_CONTENT) across the versions we accept."""


@contextmanager
def http_errors() -> Iterator[None]:
    try:
        yield
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc) or "not found") from exc
    except IllegalTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except CheckInRefused as exc:
        raise HTTPException(UNPROCESSABLE, f"check-in refused: {exc}") from exc
    except ValueError as exc:
        raise HTTPException(UNPROCESSABLE, str(exc)) from exc


def unprocessable(message: str) -> HTTPException:
    return HTTPException(UNPROCESSABLE, message)


def not_found(message: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, message)
