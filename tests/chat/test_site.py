"""Chat groups in the site file: tied to a building, checked when the file is read (docs/owners.md)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from facwatch.config import demo_site_text, parse_site
from facwatch.errors import ConfigError


def demo(**chat: Any) -> dict[str, Any]:
    data = tomllib.loads(demo_site_text())
    data["chat"] = {**data["chat"], **chat}
    return data


def test_the_demo_ties_each_group_to_a_building() -> None:
    site = parse_site(tomllib.loads(demo_site_text()), "demo", {"data_dir": "/x"})
    assert [(g.id, g.building, g.platform) for g in site.chat.groups] == [
        ("b1-owners", "b1", "dingtalk"),
        ("b2-owners", "b2", "feishu"),
    ]
    assert (site.chat.steward_keywords, site.chat.keep_days, site.chat.manager) == (5, 30.0, "mgr-zhao")


def test_a_site_without_chat_has_the_defaults() -> None:
    data = tomllib.loads(demo_site_text())
    del data["chat"]
    chat = parse_site(data, "demo", {"data_dir": "/x"}).chat
    assert chat.groups == () and chat.steward_keywords == 5 and chat.mood_s == 3600.0


BAD = [
    # the [chat] change, the error's words
    ({"groups": [{"id": "g", "building": "b9"}]}, "no building 'b9'"),  # a group of no building
    ({"groups": [{"id": "g", "building": "b1", "platform": "dingtalk"}]}, "needs its secret"),  # unsigned
    (
        {"groups": [{"id": "g", "building": "b1", "platform": "qq"}]},
        "expected 'api', 'dingtalk', 'feishu' or 'wecom'",
    ),  # unknown platform
    (
        {"groups": [{"id": "g", "building": "b1", "steward": "nobody"}]},
        "no person 'nobody'",
    ),  # unknown steward
    ({"steward_keywords": 0}, "greater than 0"),  # a threshold that would fire on nothing
    ({"manager": "nobody"}, "no person 'nobody'"),  # unknown manager
    (
        {"lexicon": {"furniture": ["沙发"]}},
        r"lexicon\.furniture: unknown key",
    ),  # a lexicon list that does not exist
]


@pytest.mark.parametrize(("change", "words"), BAD)
def test_a_bad_chat_table_is_refused_with_a_clear_message(change: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_site(demo(**change), "demo", {"data_dir": "/x"})
