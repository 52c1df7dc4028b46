"""Signed page links (pure): any changed part breaks the signature; a good one is refused after its expiry."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from alerts.notify.reports.links import LinkCheck, PageRef, check, link, sign

SECRET = "k"
REF = PageRef("lakeside", "b1", "monthly", "2026-08", "zh", 1_800_000_000)
BEFORE = datetime.fromtimestamp(REF.expires - 1, UTC)
AFTER = datetime.fromtimestamp(REF.expires + 1, UTC)


@pytest.mark.parametrize(
    ("change", "now", "expected"),
    [
        ({}, BEFORE, LinkCheck.OK),  # as signed, in time
        ({}, AFTER, LinkCheck.EXPIRED),  # as signed, too late
        ({"building": "b2"}, BEFORE, LinkCheck.BAD_SIGNATURE),  # another building
        ({"kind": "quarterly"}, BEFORE, LinkCheck.BAD_SIGNATURE),  # another report
        ({"subject": "2026-07"}, BEFORE, LinkCheck.BAD_SIGNATURE),  # another month
        ({"lang": "en"}, BEFORE, LinkCheck.BAD_SIGNATURE),
        ({"site": "elsewhere"}, BEFORE, LinkCheck.BAD_SIGNATURE),
        ({"expires": REF.expires + 86400}, BEFORE, LinkCheck.BAD_SIGNATURE),  # a longer life, self-granted
        ({"expires": REF.expires + 86400}, AFTER, LinkCheck.BAD_SIGNATURE),  # the signature is judged first
    ],
)
def test_a_link_is_good_only_as_signed_and_in_time(
    change: dict[str, Any], now: datetime, expected: LinkCheck
) -> None:
    asked = dataclasses.replace(REF, **change)
    assert check(SECRET, asked, sign(SECRET, REF), now) is expected


def test_another_secret_signs_differently() -> None:
    assert check("other", REF, sign(SECRET, REF), BEFORE) is LinkCheck.BAD_SIGNATURE


def test_the_link_carries_what_the_page_needs() -> None:
    url = link("https://fw.example.com/", SECRET, REF)
    assert url.startswith(
        "https://fw.example.com/owners/reports/lakeside/b1/monthly/2026-08?lang=zh&expires=1800000000&sig="
    )
    assert url.endswith(sign(SECRET, REF))
