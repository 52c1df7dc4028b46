"""The site file's ``[chat]`` table: owners' chat groups tied to buildings, the ladder, privacy (docs/owners.md).

Kept apart from ``facwatch/config.py`` so that the site parser only calls ``parse_chat``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from facwatch.errors import ConfigError
from facwatch.model import ChatGroup, ChatPolicy

PLATFORMS = ("api", "dingtalk", "feishu", "wecom")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NUMBERS: dict[str, type] = {
    "steward_keywords": int,
    "window_s": float,
    "mood_s": float,
    "mood_min_messages": int,
    "crisis_groups": int,
    "silent_s": float,
    "keep_days": float,
}
LEXICON_KEYS = ("elevator", "pump", "power", "complaint", "negative", "positive")
"""Which lists a site may add words to: facility words per asset kind, complaint phrases, mood words."""


def parse_chat(
    raw: Any,
    buildings: set[str],
    people: set[str],
    variables: dict[str, str],
    fail: Callable[[str], ConfigError],
) -> ChatPolicy:
    if not isinstance(raw, dict):
        raise fail("[chat] must be a table")
    numbers: dict[str, Any] = {}
    for key, kind in _NUMBERS.items():
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise fail(f"chat.{key} must be a positive number, got {value!r}")
            numbers[key] = kind(value)
    manager = raw.get("manager")
    if manager is not None and manager not in people:
        raise fail(f"chat.manager names unknown person {manager!r}")
    groups = tuple(_group(g, buildings, people, variables, fail) for g in raw.get("groups", []))
    if len({g.id for g in groups}) != len(groups):
        raise fail("chat group ids must be unique")
    lexicon = raw.get("lexicon", {})
    if not isinstance(lexicon, dict):
        raise fail("chat.lexicon must be a table of word lists")
    words: dict[str, tuple[str, ...]] = {}
    for key, value in lexicon.items():
        if key not in LEXICON_KEYS:
            raise fail(f"chat.lexicon.{key}: unknown list (known: {', '.join(LEXICON_KEYS)})")
        if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
            raise fail(f"chat.lexicon.{key} must be a list of words")
        words[key] = tuple(w.strip() for w in value)
    return ChatPolicy(groups=groups, manager=manager, lexicon=words, **numbers)


def _group(
    raw: Any,
    buildings: set[str],
    people: set[str],
    variables: dict[str, str],
    fail: Callable[[str], ConfigError],
) -> ChatGroup:
    if not isinstance(raw, dict):
        raise fail("[[chat.groups]] entries must be tables")
    gid = raw.get("id")
    if not isinstance(gid, str) or not _ID.match(gid):
        raise fail(f"chat group id must match [A-Za-z0-9_-]{{1,64}}, got {gid!r}")
    if raw.get("building") not in buildings:
        raise fail(f"chat group {gid}: unknown building {raw.get('building')!r}")
    platform = raw.get("platform", "api")
    if platform not in PLATFORMS:
        raise fail(f"chat group {gid}: platform must be one of {', '.join(PLATFORMS)}, got {platform!r}")
    steward = raw.get("steward")
    if steward is not None and steward not in people:
        raise fail(f"chat group {gid}: steward names unknown person {steward!r}")

    def text(key: str) -> str:
        value = raw.get(key, "")
        if not isinstance(value, str):
            raise fail(f"chat group {gid}: {key} must be a string")
        try:
            return value.format(**variables)
        except KeyError as exc:
            raise fail(f"chat group {gid}: {key} uses an unknown placeholder {exc}") from exc

    if platform in ("dingtalk", "feishu") and not text("secret"):
        raise fail(f"chat group {gid}: a {platform} group needs its secret (the callback is signed)")
    return ChatGroup(
        id=gid,
        building=str(raw["building"]),
        name=str(raw.get("name", gid)),
        platform=platform,
        secret=text("secret"),
        encrypt_key=text("encrypt_key"),
        conversation=text("conversation"),
        steward=steward,
    )
