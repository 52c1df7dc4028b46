"""The report page's keys, pure: building tokens (table of cases), phone numbers checked, masked and keyed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine.owner_identity import (
    BuildingPass,
    TokenProblem,
    check_building,
    mask_phone,
    normalise_phone,
    phone_key,
    sign_building,
)

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
GOOD = sign_building("s3cret-key-0123456789", "lakeside", "b1", NOW + timedelta(days=1))


def _swap_sig(token: str) -> str:
    head, _, sig = token.rpartition(".")
    return f"{head}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"


@pytest.mark.parametrize(
    ("token", "secret", "buildings", "expected"),
    [
        (GOOD, "s3cret-key-0123456789", {"b1"}, "b1"),  # as printed
        (
            GOOD.replace(".b1.", ".b2."),
            "s3cret-key-0123456789",
            {"b1", "b2"},
            TokenProblem.FORGED,
        ),  # another building
        (_swap_sig(GOOD), "s3cret-key-0123456789", {"b1"}, TokenProblem.FORGED),  # a changed signature
        (GOOD, "another-secret-000000", {"b1"}, TokenProblem.FORGED),  # the secret was changed
        (GOOD.rsplit(".", 2)[0], "s3cret-key-0123456789", {"b1"}, TokenProblem.MALFORMED),  # cut short
        (GOOD, "s3cret-key-0123456789", {"b2"}, TokenProblem.UNKNOWN_BUILDING),  # a building since removed
        (
            sign_building("s3cret-key-0123456789", "lakeside", "b1", NOW - timedelta(seconds=1)),
            "s3cret-key-0123456789",
            {"b1"},
            TokenProblem.EXPIRED,
        ),  # past its expiry
        (
            sign_building("s3cret-key-0123456789", "riverside", "b1", NOW + timedelta(days=1)),
            "s3cret-key-0123456789",
            {"b1"},
            TokenProblem.OTHER_SITE,
        ),  # another compound's code
    ],
)
def test_building_tokens(token: str, secret: str, buildings: set[str], expected: object) -> None:
    checked = check_building(secret, token, "lakeside", buildings, NOW)
    if isinstance(expected, TokenProblem):
        assert checked is expected
    else:
        assert isinstance(checked, BuildingPass) and checked.building == expected


@pytest.mark.parametrize(
    ("raw", "normal", "masked"),
    [
        ("13812345678", "13812345678", "138****5678"),  # a mobile
        ("+86 138-1234-5678", "13812345678", "138****5678"),  # with country code and dashes
        ("0571-88886666", "057188886666", "0571****6666"),  # a landline, area code kept
        ("010 12345678", "01012345678", "010****5678"),  # Beijing's three-digit area code
        ("12345", None, None),  # not a number anyone can call back
    ],
)
def test_phone_numbers(raw: str, normal: str | None, masked: str | None) -> None:
    assert normalise_phone(raw) == normal
    if normal is not None:
        assert mask_phone(normal) == masked


def test_a_phone_key_is_stable_per_site_and_says_nothing_of_the_number() -> None:
    key = phone_key("k" * 20, "lakeside", "13812345678")
    assert key == phone_key("k" * 20, "lakeside", "13812345678")
    assert key != phone_key("k" * 20, "riverside", "13812345678")
    assert "5678" not in key
