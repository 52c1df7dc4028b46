"""Understanding one owners' chat message: is it a complaint, about which kind of machine, in what mood.

Pure once built: ``Analyser(lexicon).analyse(text, own_building)`` segments the text with jieba (its
dictionary ships inside its wheel; the lexicon's words are added so phrases stay whole) and matches the
tokens against the lexicon. No owner is scored: the result describes a message, never its sender.

The rules, in order:
- a fault word right after a negation (没坏, 不是停电) is not a fault;
- a message naming another building (3号楼) and not its own is not a complaint about this group's building;
- a question with no complaint phrase (请问明天停水吗) is not a complaint;
- praise next to a fault or complaint (真棒，电梯又坏了) is sarcasm: a negative mood;
- a fault word, or a complaint phrase about a facility, makes a complaint; a fix reported (修好了, 来水了)
  without a new fault does not.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

import jieba

from alerts.detection.chat.lexicon import Lexicon, default_lexicon
from facwatch.model import AssetKind

_BUILDING = re.compile(r"([0-9一二三四五六七八九十]{1,3})\s*(?:号楼|栋|幢|号楼的)")
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_FIXED = frozenset({"修好了", "恢复了", "好了", "来电了", "来水了", "正常了", "解决"})
_EXCLAIM = re.compile(r"[!！]{2,}|[?？]{2,}")
_lock = threading.Lock()
jieba.setLogLevel(logging.WARNING)


class Mood(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


@dataclass(frozen=True, slots=True)
class Analysis:
    """What one message says (never who said it)."""

    complaint: bool
    keywords: int
    """Complaint keywords in the message (fault words and complaint phrases): the ladder counts them."""
    asset_kind: AssetKind | None
    mood: Mood
    other_building: bool = False
    """The message is about another building than the group's."""


def building_number(text: str) -> int | None:
    """The building a building id or name means (``b1``, ``1号楼``, ``一号楼``), or None."""
    found = _BUILDING.search(text)
    if found is not None:
        return _number(found.group(1))
    digits = re.search(r"[0-9]+", text)
    return int(digits.group(0)) if digits else None


def _number(raw: str) -> int | None:
    if raw.isdigit():
        return int(raw)
    if raw in _CN_DIGITS:
        return _CN_DIGITS[raw]
    if raw.startswith("十") and len(raw) == 2:
        return 10 + _CN_DIGITS.get(raw[1], 0)
    return None


_tokenizers: dict[frozenset[str], jieba.Tokenizer] = {}
"""One jieba tokenizer per set of added words, shared by every site of a process that has that lexicon: each
holds a copy of jieba's dictionary (about 70 MiB), which a tokenizer per site repeated (bench/site_cost)."""


def _tokenizer(words: frozenset[str]) -> jieba.Tokenizer:
    with _lock:
        tokenizer = _tokenizers.get(words)
        if tokenizer is None:
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            for word in sorted(words):
                tokenizer.add_word(word, freq=200_000)
            _tokenizers[words] = tokenizer
        return tokenizer


class Analyser:
    """Segments with the jieba tokenizer of its lexicon's words (building one costs about a second, once per
    process and lexicon; it is only read afterwards, so sites share it)."""

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon or default_lexicon()
        self._tokenizer = _tokenizer(frozenset(self.lexicon.words()))

    def tokens(self, text: str) -> list[str]:
        return [t for t in self._tokenizer.lcut(text, HMM=False) if t.strip()]

    def analyse(self, text: str, own_building: int | None = None) -> Analysis:
        lex = self.lexicon
        tokens = self.tokens(text)
        keywords = 0
        faults = 0
        kinds: Counter[AssetKind] = Counter()
        negative = positive = 0
        asking = sarcastic = fixed = general = False
        previous = ""
        for token in tokens:
            negated = previous in lex.negations
            if token in lex.fault and not negated:
                faults += 1
                keywords += 1
            if token in lex.complaint:
                keywords += 1 if token not in lex.fault else 0
            if token in lex.kind_of and not (negated and token in lex.fault):
                kinds[lex.kind_of[token]] += 1
            if token in lex.negative and not negated:
                negative += 1
            if token in lex.positive and not negated:
                positive += 1
                fixed = fixed or token in _FIXED
            asking = asking or token in lex.questions
            general = general or token in lex.general
            sarcastic = sarcastic or token in lex.sarcasm
            previous = token
        if _EXCLAIM.search(text):
            negative += 1
        phrases = keywords - faults
        other = _about_other_building(text, own_building)
        if fixed and faults <= 1 and phrases == 0:
            faults = 0  # 电梯修好了 / 停电恢复了: a fix reported, not a new fault
        complaint = (faults > 0 or (phrases > 0 and (bool(kinds) or general))) and not other
        if complaint and asking and faults < 2 and phrases == 0 and negative == 0 and "又" not in text:
            complaint = False
        if complaint and "又" in text:
            negative += 1  # 又: it happened again
        if sarcastic and (faults or phrases):
            negative, positive = negative + 1, 0
        mood = Mood.NEUTRAL
        if negative > positive:
            mood = Mood.NEGATIVE
        elif positive > negative:
            mood = Mood.POSITIVE
        kind = kinds.most_common(1)[0][0] if kinds else None
        return Analysis(complaint, keywords if complaint else 0, kind, mood, other)


def _about_other_building(text: str, own: int | None) -> bool:
    """Names a building, and not the group's own."""
    if own is None:
        return False
    named = {n for raw in _BUILDING.findall(text) if (n := _number(raw)) is not None}
    return bool(named) and own not in named
