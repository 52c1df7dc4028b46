"""The ladder as tables, in event time: which rung is active at ``now`` given the recent messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts.detection.chat.analyse import Mood
from alerts.detection.chat.ladder import (
    CRISIS,
    MOOD,
    SILENT,
    STEWARD,
    Figures,
    FiringAlert,
    Join,
    join,
    ladder,
    owners_asset,
)
from facwatch.config import load_site
from facwatch.model import AssetKind, Site

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NEG, NEU = Mood.NEGATIVE, Mood.NEUTRAL
E = AssetKind.ELEVATOR


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site("demo", variables={"data_dir": "/nonexistent"})


def msg(
    group: str, minute: float, keywords: int = 0, mood: Mood = NEU, kind: AssetKind | None = None
) -> Figures:
    building = "b1" if group == "b1-owners" else "b2"
    at = T0 + timedelta(minutes=minute)
    return Figures(group, building, at, keywords > 0, keywords, kind, mood)


def active(site: Site, recent: list[Figures], minute: float) -> set[tuple[str, str]]:
    return {(f.kind, f.asset) for f in ladder(recent, site, T0 + timedelta(minutes=minute)) if f.active}


B1, B2 = owners_asset("b1"), owners_asset("b2")
LADDER = [
    # messages, judged at minute, active rungs
    ([], 0, set()),  # a quiet group
    ([msg("b1-owners", m, 1) for m in range(4)], 5, set()),  # four keywords: not yet
    ([msg("b1-owners", m, 1) for m in range(5)], 5, {(STEWARD, B1)}),  # the fifth calls the steward
    ([msg("b1-owners", 0, 3), msg("b1-owners", 10, 2)], 30, {(STEWARD, B1)}),  # keywords, not messages, count
    ([msg("b1-owners", m, 1) for m in range(5)], 61, set()),  # older than the hour: the rung ends
    ([msg("b1-owners", 0, 2), msg("b1-owners", 59, 3)], 61, set()),  # only 3 within the last hour
    (
        [msg("b1-owners", m, 2, NEG) for m in (35, 40, 50, 55)],
        60,
        {(STEWARD, B1)},
    ),  # angry half an hour: no mood yet
    ([msg("b1-owners", m, 0, NEG) for m in (1, 20, 40, 55)], 59, set()),  # negative for 58 minutes: not yet
    ([msg("b1-owners", m, 0, NEG) for m in (1, 20, 40, 55)], 61, {(MOOD, B1)}),  # negative for the hour
    ([msg("b1-owners", m, 0, (m < 30 and NEG) or NEU) for m in (1, 20, 40, 55)], 61, set()),  # it eased off
    ([msg("b1-owners", m, 0, NEG) for m in (40, 50, 55)], 60, set()),  # negative only in the last half hour
    (
        [msg("b1-owners", 0, 0, Mood.POSITIVE)] + [msg("b1-owners", m, 0, NEG) for m in (20, 40, 62)],
        63,
        set(),
    ),  # since praise
    (
        [msg("b1-owners", 1, 0, NEG), msg("b1-owners", 40, 0, NEU), msg("b1-owners", 50, 0, NEU)],
        60,
        set(),
    ),  # calmed
    ([msg("b1-owners", m, 0, NEG) for m in (1, 40)], 60, set()),  # too few messages to judge a mood
    (
        [msg("b1-owners", m, 1) for m in range(5)] + [msg("b2-owners", m, 1) for m in range(5)],
        10,
        {(STEWARD, B1), (STEWARD, B2), (CRISIS, "owners")},
    ),  # two groups at the steward's rung: a crisis
]


@pytest.mark.parametrize(("recent", "minute", "expected"), LADDER)
def test_the_ladder_at_event_time(
    site: Site, recent: list[Figures], minute: float, expected: set[tuple[str, str]]
) -> None:
    assert active(site, recent, minute) == expected


def test_thresholds_come_from_the_site(site: Site) -> None:
    strict = replace(site, chat=replace(site.chat, steward_keywords=3, crisis_groups=1))
    recent = [msg("b1-owners", m, 1) for m in range(3)]
    assert active(strict, recent, 5) == {(STEWARD, B1), (CRISIS, "owners")}
    assert active(site, recent, 5) == set()


def test_the_steward_finding_names_the_steward(site: Site) -> None:
    [steward] = [
        f
        for f in ladder([msg("b1-owners", m, 1) for m in range(5)], site, T0 + timedelta(minutes=5))
        if f.active
    ]
    assert "刘管家" in steward.summary and steward.value == 5.0


ALERT = FiringAlert("b1-elev-1", "elevator.stuck_between_floors", "T-000001")
JOINS = [
    # complaint, firing alerts, minutes after it, outcome, target
    (msg("b1-owners", 0, 1, kind=E), [ALERT], 0, Join.JOINED, "T-000001"),  # joins the open alert's ticket
    (msg("b1-owners", 0, 1, kind=E), [], 5, Join.WAITING, "b1-elev-1"),  # the sensors get silent_s to agree
    (msg("b1-owners", 0, 1, kind=E), [], 15, Join.SILENT, "b1-elev-1"),  # then: owners report, sensors silent
    (
        msg("b2-owners", 0, 1, kind=E),
        [ALERT],
        15,
        Join.SILENT,
        "b2-elev-1",
    ),  # another building's alert is no match
    (
        replace(msg("b2-owners", 0, 1, kind=E), unit=2),
        [],
        15,
        Join.SILENT,
        "b2-elev-2",
    ),  # 2单元 names the machine
    (msg("b1-owners", 0, 1), [ALERT], 0, Join.NO_MACHINE, None),  # no machine named
]


@pytest.mark.parametrize(("figures", "firing", "after", "outcome", "target"), JOINS)
def test_a_complaint_about_a_machine(
    site: Site, figures: Figures, firing: list[FiringAlert], after: float, outcome: Join, target: str | None
) -> None:
    got, where = join(figures, site, firing, site.chat.silent_s, figures.at + timedelta(minutes=after))
    assert got is outcome
    named = getattr(where, "ticket_id", None) if got is Join.JOINED else getattr(where, "id", None)
    assert named == target
    assert SILENT == "owners.sensors_silent"
