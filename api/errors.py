"""Domain errors mapped to HTTP answers, in one place (``HTTPException`` lives only in ``api``).

NotFound           404
IllegalTransition  409, naming the ticket's state and the refused action
StillFiring        409, naming the alert that still fires ("alert A-000012 elevator.entrapment is still firing")
CheckInRefused     422, "check-in refused: ..." (arrival must be proven with the asset's code)
TooManyCheckIns    429 with Retry-After (too many wrong check-in codes by the token, or on the ticket)
ValueError         422 (a bad cursor, a bad field for this action)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException, status

from alerts.engine.errors import CheckInRefused, IllegalTransition, NotFound, StillFiring, TooManyCheckIns

UNPROCESSABLE = 422
"""Spelled out: starlette renamed its constant (…_ENTITY → …_CONTENT) across the versions we accept."""


@contextmanager
def http_errors() -> Iterator[None]:
    try:
        yield
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc) or "not found") from exc
    except (IllegalTransition, StillFiring) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except TooManyCheckIns as exc:
        headers = {"Retry-After": str(exc.retry_after_s)}
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers=headers) from exc
    except CheckInRefused as exc:
        raise HTTPException(UNPROCESSABLE, f"check-in refused: {exc}") from exc
    except ValueError as exc:
        raise HTTPException(UNPROCESSABLE, str(exc)) from exc


def unprocessable(message: str) -> HTTPException:
    return HTTPException(UNPROCESSABLE, message)


def forbidden(message: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, message)


def not_found(message: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, message)
