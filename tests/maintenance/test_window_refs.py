"""A site-file window's identity: its own ``ref``, else its asset and local start; either survives
reordering the file, and what the owners were told is found again (``decide_site_change``, a table)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from alerts.engine.maintenance import (
    ChangeReason,
    Moment,
    Told,
    decide_change,
    decide_site_change,
    parse_key,
    window_key,
)
from facwatch.config import parse_site
from facwatch.errors import ConfigError
from facwatch.model import MaintenanceWindow, Site

A = """
[[maintenance_windows]]
ref = "lift-march"
asset = "b1-elev-1"
start = 2025-03-05T09:00:00
end = 2025-03-05T11:00:00
"""
B = """
[[maintenance_windows]]
asset = "b1-elev-2"
start = 2025-03-06T14:00:00
end = 2025-03-06T16:00:00
"""


def _site(extra: str) -> Site:
    text = resources.files("facwatch").joinpath("sites/demo.toml").read_text(encoding="utf-8")
    return parse_site(tomllib.loads(text + extra), "demo.toml", {"data_dir": "/tmp"})


def test_refs_survive_reordering_the_file() -> None:
    one = {w.ref: w for w in _site(A + B).maintenance.windows}
    other = {w.ref: w for w in _site(B + A).maintenance.windows}
    assert one == other
    assert sorted(one) == ["S-b1-elev-2-20250306T1400", "S-lift-march"]
    assert one["S-lift-march"].start == datetime(2025, 3, 5, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (A + A, "ref 'S-lift-march' is also maintenance_windows[0]'s"),  # the same ref twice
        (B + B, "give one a `ref`"),  # the same asset and start, neither with a ref
        (A + A.replace("lift-march", "lift-b"), "already has a window starting then"),  # told apart how?
        (A.replace('"lift-march"', '"7"'), "digits alone"),  # would read as the old S-<n>
        (A.replace('"lift-march"', '"a:b"'), "ref"),  # a ref is a word: letters, digits, - and _
    ],
)
def test_bad_refs_are_refused(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _site(extra)
    assert message in str(caught.value)


T = datetime(2025, 3, 5, 1, 0, tzinfo=UTC)
H = timedelta(hours=1)
NOW = T - 10 * H
OWN = MaintenanceWindow("S-lift", "b1-elev-1", T, T + 2 * H)
DERIVED = MaintenanceWindow("S-b1-elev-1-20250305T0900", "b1-elev-1", T, T + 2 * H)


@pytest.mark.parametrize(
    ("told", "windows", "now", "moment", "reason"),
    [
        # unchanged: its own ref, the same start
        (Told("S-lift", T, "b1-elev-1", T + 2 * H), [OWN], NOW, None, ChangeReason.SAME),
        # its own ref, a new start: moved
        (
            Told("S-lift", T - 3 * H, "b1-elev-1", T),
            [OWN],
            NOW,
            Moment.MOVED,
            ChangeReason.MOVED,
        ),
        # a ref added to a window told under its derived one: the same window, nothing to tell
        (Told(DERIVED.ref, T, "b1-elev-1", T + 2 * H), [OWN], NOW, None, ChangeReason.SAME_ELSEWHERE),
        # told by an older facwatch as S-2 (file order): found by asset and start
        (Told("S-2", T, "b1-elev-1"), [DERIVED], NOW, None, ChangeReason.SAME_ELSEWHERE),
        # gone from the file before it began: cancelled
        (Told(DERIVED.ref, T, "b1-elev-1", T + 2 * H), [], NOW, Moment.CANCELLED, ChangeReason.CANCELLED),
        # moved without a ref of its own: the old one is gone (cancelled), the new one another window
        (
            Told("S-b1-elev-1-20250305T0600", T - 3 * H, "b1-elev-1", T - H),
            [DERIVED],
            NOW,
            Moment.CANCELLED,
            ChangeReason.CANCELLED,
        ),
        # gone after it began (an old entry cleaned up): nothing more to tell
        (Told(DERIVED.ref, T, "b1-elev-1", T + 2 * H), [], T + H, None, ChangeReason.CANCELLED_LATE),
        # gone, told as S-2 by an older facwatch (no end kept): nothing to tell
        (Told("S-2", T, "b1-elev-1"), [], NOW, None, ChangeReason.GONE_UNKNOWN),
    ],
)
def test_what_owners_hear_of_a_site_file_change(
    told: Told,
    windows: list[MaintenanceWindow],
    now: datetime,
    moment: Moment | None,
    reason: ChangeReason,
) -> None:
    _window, got, why = decide_site_change(told, windows, now)
    assert (got, why) == (moment, reason)


def test_a_site_file_window_key_carries_its_end() -> None:
    key = window_key("lakeside", DERIVED, Moment.PLANNED)
    assert key == "maint:lakeside:S-b1-elev-1-20250305T0900:20250305T0100:planned:20250305T0300"
    told, moment = parse_key("lakeside", f"{key}:owners:b1:owners-b1", "b1-elev-1") or (None, None)
    assert moment is Moment.PLANNED and told == Told(DERIVED.ref, T, "b1-elev-1", T + 2 * H)
    api = MaintenanceWindow("W-000001", "b1-elev-1", T, T + 2 * H)
    assert window_key("lakeside", api, Moment.DONE) == "maint:lakeside:W-000001:20250305T0100:done"
    assert parse_key("lakeside", "maint:lakeside:W-000001:garbage:done") is None


W = MaintenanceWindow("W-000001", "b1-elev-1", T, T + 2 * H)
LATER = MaintenanceWindow("W-000001", "b1-elev-1", T + 48 * H, T + 50 * H)


@pytest.mark.parametrize(
    ("told", "window", "cancelled_at", "now", "moment", "reason"),
    [
        # as told
        (Told("W-000001", T), W, None, NOW, None, ChangeReason.SAME),
        # cancelled before it began
        (Told("W-000001", T), W, NOW, NOW, Moment.CANCELLED, ChangeReason.CANCELLED),
        # cancelled after it began: nothing more to tell
        (Told("W-000001", T), W, T + H, T + H, None, ChangeReason.CANCELLED_LATE),
        # moved to a later time before the one told
        (Told("W-000001", T), LATER, None, NOW, Moment.MOVED, ChangeReason.MOVED),
        # moved, and the new time has begun: its end is told as usual
        (Told("W-000001", T + 50 * H), LATER, None, T + 49 * H, None, ChangeReason.MOVED_PAST),
        # the told time had begun (done), the same ref has a new time: a new window, not a move
        (Told("W-000001", T), LATER, None, T + 3 * H, None, ChangeReason.MOVED_AFTER_TOLD_BEGAN),
    ],
)
def test_what_owners_hear_of_a_change(
    told: Told,
    window: MaintenanceWindow,
    cancelled_at: datetime | None,
    now: datetime,
    moment: Moment | None,
    reason: ChangeReason,
) -> None:
    assert decide_change(told, window, cancelled_at, now) == (moment, reason)
