"""The dead-letter store: newest first, paged, counted per reason, bounded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from facwatch.model import DeadLetter, DeadLetterReason
from ingest.deadletters import DeadLetterStore
from ingest.errors import BadQuery


def letter(i: int, reason: DeadLetterReason = DeadLetterReason.MALFORMED) -> DeadLetter:
    return DeadLetter(
        topic=f"fw/s/pump/p{i}/telemetry", reason=reason, detail=f"#{i}", payload=b"{", received_ms=i
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DeadLetterStore]:
    s = DeadLetterStore(tmp_path / "dl.db", max_rows=50)
    yield s
    s.close()


def test_pages_go_newest_first_and_end_with_no_cursor(store: DeadLetterStore) -> None:
    store.put([letter(i) for i in range(5)])
    first = store.list(limit=2)
    second = store.list(limit=2, cursor=first.next)
    third = store.list(limit=2, cursor=second.next)
    assert [d.detail for d in (*first.items, *second.items, *third.items)] == ["#4", "#3", "#2", "#1", "#0"]
    assert third.next is None
    assert first.items[0].payload == b"{" and first.items[0].id is not None


def test_counts_per_reason_and_filter(store: DeadLetterStore) -> None:
    store.put([letter(1), letter(2, DeadLetterReason.OUT_OF_RANGE), letter(3, DeadLetterReason.OUT_OF_RANGE)])
    assert store.counts() == {"malformed": 1, "out_of_range": 2}
    page = store.list(limit=10, reason=DeadLetterReason.OUT_OF_RANGE)
    assert [d.detail for d in page.items] == ["#3", "#2"]


def test_only_the_newest_rows_are_kept(store: DeadLetterStore) -> None:
    for start in range(0, 120, 30):
        store.put([letter(i) for i in range(start, start + 30)])
    page = store.list(limit=100)
    assert len(page.items) == 50
    assert page.items[0].detail == "#119" and page.items[-1].detail == "#70"


@pytest.mark.parametrize("cursor", ["abc", "-1"])
def test_a_bad_cursor_is_refused(store: DeadLetterStore, cursor: str) -> None:
    with pytest.raises(BadQuery):
        store.list(limit=10, cursor=cursor)


def test_dead_letters_can_share_the_telemetry_file(tmp_path: Path) -> None:
    from ingest.sqlite_store import SqliteStore

    telemetry = SqliteStore(tmp_path / "telemetry.db")
    letters = DeadLetterStore(tmp_path / "telemetry.db")
    letters.put([letter(1)])
    assert letters.counts() == {"malformed": 1}
    letters.close()
    telemetry.close()


def test_one_topics_flood_evicts_only_its_own_letters(tmp_path: Path) -> None:
    """Retention per topic: 5,000 letters from one asset keep its newest 100 and everyone else's."""
    store = DeadLetterStore(tmp_path / "dl.db", max_rows=10_000, max_per_topic=100)
    try:
        others = [letter(i) for i in range(20)]  # twenty assets, one letter each
        store.put(others)
        flood = [
            DeadLetter(
                topic="fw/s/pump/noisy/telemetry",
                reason=DeadLetterReason.MALFORMED,
                detail=f"flood {n}",
                payload=b"[",
                received_ms=1_000 + n,
            )
            for n in range(5_000)
        ]
        for start in range(0, len(flood), 500):
            store.put(flood[start : start + 500])
        kept = store.list(limit=1_000).items
        assert {d.detail for d in kept} >= {f"#{i}" for i in range(20)}
        noisy = [d for d in kept if d.topic == "fw/s/pump/noisy/telemetry"]
        assert len(noisy) == 100 and noisy[0].detail == "flood 4999"
    finally:
        store.close()


def test_letters_older_than_the_age_limit_go(tmp_path: Path) -> None:
    day = 86_400_000
    store = DeadLetterStore(tmp_path / "dl.db", max_age_days=7)
    try:
        store.put(
            [
                DeadLetter(
                    topic="fw/s/pump/a/telemetry",
                    reason=DeadLetterReason.MALFORMED,
                    detail="old",
                    payload=b"{",
                    received_ms=day,
                )
            ]
        )
        store.put(
            [
                DeadLetter(
                    topic="fw/s/pump/b/telemetry",
                    reason=DeadLetterReason.MALFORMED,
                    detail="new",
                    payload=b"{",
                    received_ms=9 * day,
                )
            ]
        )
        assert [d.detail for d in store.list().items] == ["new"]
    finally:
        store.close()
