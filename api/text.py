"""Text from callers, made safe to answer with and to store, in one place.

JSON can carry what the databases and UTF-8 cannot: ``\\u0000`` (PostgreSQL's ``text`` refuses NUL, SQLite
keeps it) and a lone surrogate such as ``\\ud800`` (not UTF-8 at all). Left alone, either turns a caller's
mistake into a 500 on one database and not on the other.

- ``TextIn``: the base of request bodies: a NUL anywhere in one is ``422`` on every database.
- ``storable``: for the owners' chat, whose messages are kept rather than refused (a platform does not fix
  and resend a message): NUL removed, lone surrogates replaced by U+FFFD.
- ``printable``: for answers that quote the input (validation errors): lone surrogates shown escaped.
- ``NUL_IN_URL``/``nul_in_url``: a NUL in a request's path or query string (``%00``) is ``422`` before any
  route runs (api/limits.py): a filter with one reached PostgreSQL and answered 500.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator

NUL = "\x00"


NUL_IN_URL = b'{"detail":"the URL holds a NUL character (%00), which is not accepted"}'


def nul_in_url(path: str, query: bytes) -> bool:
    """Whether a request's (decoded) path or its (raw) query string holds a NUL."""
    return NUL in path or b"%00" in query


def printable(text: str) -> str:
    """``text`` that UTF-8 can carry, lone surrogates written as their escapes (``\\ud800``)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def storable(text: str) -> str:
    """``text`` that every state database keeps as it is: no NUL, a lone surrogate replaced by U+FFFD."""
    return text.replace(NUL, "").encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def nul_at(value: object, where: str = "") -> str | None:
    """The path (``text``, ``photos.1``) of the first string in ``value`` that holds a NUL, else None."""
    if isinstance(value, str):
        return where if NUL in value else None
    items: Any = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, item in items:
        path = f"{where}.{key}" if where else str(key)
        if isinstance(key, str) and NUL in key:
            return path
        found = nul_at(item, path)
        if found is not None:
            return found
    return None


class TextIn(BaseModel):
    """A request body in which no text (key or value, at any depth) holds a NUL character."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        where = nul_at(data)
        if where is not None:
            raise ValueError(f"{where or 'the body'}: a NUL character (\\u0000) is not accepted in text")
        return data
