"""Understanding one message, as a table: complaint, asset kind, mood; masking on arrival."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alerts.detection.chat.analyse import Analyser, Mood
from alerts.detection.chat.lexicon import default_lexicon
from alerts.detection.chat.privacy import mask
from facwatch.model import AssetKind

E, P, W = AssetKind.ELEVATOR, AssetKind.PUMP, AssetKind.POWER
NEG, NEU, POS = Mood.NEGATIVE, Mood.NEUTRAL, Mood.POSITIVE


@pytest.fixture(scope="module")
def analyser() -> Analyser:
    return Analyser()


CASES = [
    # text, complaint, kind, mood
    ("电梯又坏了，无语", True, E, NEG),  # the practice's own keywords
    ("1单元电梯坏了，麻烦物业看一下", True, E, NEU),  # a plain report is a complaint without anger
    ("请问明天停水吗？", False, P, NEU),  # asking about a plan is no complaint
    ("明天上午9点到12点停水，大家提前储水", False, P, NEU),  # an announcement
    ("谢谢物业，电梯修好了👍", False, E, POS),  # a fix reported
    ("真棒，三天两头停电", True, W, NEG),  # sarcasm: praise next to a fault
    ("3号楼电梯又坏了，我们楼的还好", False, E, NEU),  # another building's trouble
    ("电梯没坏，是我按错了", False, E, NEU),  # negated fault
    ("家里突然没电了，是整栋楼都停了吗", True, W, NEU),  # a question that reports a fault
    ("谁知道垃圾分类的时间", False, None, NEU),  # 垃圾 inside 垃圾分类 is no insult
    ("今天天气不错", False, None, NEU),  # chatter
]


@pytest.mark.parametrize(("text", "complaint", "kind", "mood"), CASES, ids=[c[0] for c in CASES])
def test_a_message_is_understood(
    analyser: Analyser, text: str, complaint: bool, kind: AssetKind | None, mood: Mood
) -> None:
    result = analyser.analyse(text, own_building=1)
    assert (result.complaint, result.asset_kind, result.mood) == (complaint, kind, mood)


def test_complaint_keywords_are_counted_for_the_ladder(analyser: Analyser) -> None:
    assert analyser.analyse("电梯又坏了，无语，投诉", 1).keywords == 3
    assert analyser.analyse("今天天气不错", 1).keywords == 0


def test_a_site_adds_its_own_words(analyser: Analyser) -> None:
    plain = analyser.analyse("观光梯坏了", 1)
    assert plain.asset_kind is None or plain.asset_kind is E  # 梯 alone may already say it
    extended = Analyser(default_lexicon().with_additions({"elevator": ("观光梯",), "complaint": ("太坑",)}))
    result = extended.analyse("观光梯太坑", 1)
    assert (result.complaint, result.asset_kind) == (True, E)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("我电话13812345678", "我电话138****5678"),  # a mobile number keeps its ends
        ("打 +86 139-1234-5678", "打 139****5678"),  # written with a country code and dashes
        ("身份证11010119900307123X", "身份证1****************X"),  # an 18-character ID number
        ("座机010-87654321", "座机010-********"),  # a landline keeps its area code
        ("18楼电梯坏了，3天了", "18楼电梯坏了，3天了"),  # ordinary numbers stay
    ],
)
def test_phone_and_id_numbers_are_masked(text: str, masked: str) -> None:
    assert mask(text) == masked


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_sites_with_one_lexicon_share_one_dictionary_in_memory() -> None:
    """A site's analyser holds jieba's dictionary (~70 MiB); a second site with the same lexicon adds none of
    it, and a site with words of its own still keeps them whole."""
    Analyser()
    before = _rss_mib()
    second = Analyser()
    assert _rss_mib() - before < 5, "a second site with the same lexicon copied the dictionary"
    own = Analyser(default_lexicon().with_additions({"elevator": ("观光梯",)}))
    assert "观光梯" in own.tokens("观光梯又停了") and "观光梯" not in second.tokens("观光梯又停了")
