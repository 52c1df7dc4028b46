"""The error answers the API documents, in one place: each with its schema, so a client knows what it gets.

Every error answers ``{"detail": "..."}`` (a 422 from validation: ``{"detail": [{loc, msg, type}]}``).
Routers take ``AUTHENTICATED`` (401, 403, 422); routes add what only they can answer (404, 409, 413, 429).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorOut(BaseModel):
    """An error the API answers: what went wrong, in words."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "not found"}]})
    detail: str = Field(
        description="What went wrong, in words", examples=["this token lacks the engineer scope"]
    )


class FieldErrorOut(BaseModel):
    """One input the API could not take."""

    loc: list[str | int] = Field(description="Where: the part of the request, then the key path")
    msg: str = Field(description="What was expected")
    type: str = Field(description="The kind of error (pydantic's name for it)")
    input: Any = Field(default=None, description="An excerpt of the rejected input (at most 80 characters)")


class ValidationErrorOut(BaseModel):
    """A request the API cannot take: each bad input with where and what (at most 20 listed)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"detail": [{"loc": ["query", "limit"], "msg": "Input should be ≤ 1000", "type": "x"}]}
            ]
        }
    )
    detail: list[FieldErrorOut] | str = Field(description="The bad inputs, or one message for a bad value")


Responses = dict[int | str, dict[str, Any]]


def _error(description: str, model: type[BaseModel] = ErrorOut) -> dict[str, Any]:
    return {"model": model, "description": description}


UNAUTHORIZED: Responses = {401: _error("No bearer token, or a token that is unknown, expired or revoked")}
FORBIDDEN: Responses = {403: _error("The token lacks the scope this route needs")}
INVALID: Responses = {422: _error("A parameter or the body is not what the route takes", ValidationErrorOut)}
TOO_LARGE: Responses = {413: _error("The body is larger than the API takes")}
AUTHENTICATED: Responses = {**UNAUTHORIZED, **FORBIDDEN, **INVALID}
"""On every router whose routes need a bearer token."""


def missing(what: str) -> Responses:
    return {404: _error(f"No such {what}")}


def conflict(description: str) -> Responses:
    return {409: _error(description)}


def too_many(description: str) -> Responses:
    return {429: _error(description)}


def body(*more: Responses) -> Responses:
    """A route that takes a body: it may be too large (413), plus the route's own answers."""
    out: Responses = dict(TOO_LARGE)
    for extra in more:
        out.update(extra)
    return out


def example(value: Any, code: int = 200, media_type: str = "application/json") -> Responses:
    """An operation's example answer (for a shape whose schema has none of its own, such as a page)."""
    return {code: {"content": {media_type: {"example": value}}}}


def page_example(*items: Any) -> Responses:
    """The example answer of a list: one page with the items and no further page."""
    return example({"items": list(items), "next": None})


def page_of(model: type[BaseModel]) -> Responses:
    """The example answer of a list of ``model``: one page holding the model's own example, no next page."""
    return example({"items": model.model_json_schema()["examples"][:1], "next": None})
