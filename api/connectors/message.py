"""A platform's message as a connector reads it, and what a connector refuses.

ChatRefused
├── BadSignature     the platform's signature does not match (401)
└── Stale            the signed timestamp is older than ``MAX_AGE_S`` or from the future (401)
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_AGE_S = 3600.0
"""A signed callback older than this (or this far ahead) is refused: a replayed request cannot feed us."""


class ChatRefused(Exception):
    """Base of what a connector refuses; the message says why."""


class BadSignature(ChatRefused):
    pass


class Stale(ChatRefused):
    pass


@dataclass(frozen=True, slots=True)
class PlatformMessage:
    """A group's text message as a platform delivered it (the route turns it into a chat message)."""

    msg_id: str
    sender: str
    text: str
    ts_ms: int


def check_age(ts_ms: int, now_ms: int) -> None:
    if abs(now_ms - ts_ms) > MAX_AGE_S * 1000:
        raise Stale(f"signed timestamp {ts_ms} is more than {MAX_AGE_S:.0f} s from now")
