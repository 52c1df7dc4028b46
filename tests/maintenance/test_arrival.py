"""Signs of a person's hands on a machine (pure), as a table: what each asset kind's readings show, and what
they do not (a car moving in normal service, an elevator's running flag, a current that stays up)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine.maintenance_arrival import Arrival, Seen, Sign, Signs, decide_arrival
from facwatch.model import Reading, ms_from_utc

T = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


def frames(asset: str, *values: dict[str, float]) -> list[Reading]:
    return [
        Reading("s", asset, channel, ms_from_utc(T) + i * 1000, float(v))
        for i, frame in enumerate(values)
        for channel, v in frame.items()
    ]


@pytest.mark.parametrize(
    ("asset", "values", "sign"),
    [
        # the car moves under inspection / rescue control
        ("e", ({"inspection_mode": 1, "speed_mps": 0.0}, {"inspection_mode": 1, "speed_mps": 0.3}), Sign.INSPECTION_MOVE),
        # the car moves in normal service: nobody's hands
        ("e", ({"inspection_mode": 0, "speed_mps": 1.6}, {"inspection_mode": 0, "speed_mps": 1.6}), None),
        # the doors open at a landing
        ("e", ({"in_door_zone": 1, "door_open": 0}, {"in_door_zone": 1, "door_open": 1}), Sign.LANDING_DOORS),
        # the doors flag rises between floors: not a landing
        ("e", ({"in_door_zone": 0, "door_open": 0}, {"in_door_zone": 0, "door_open": 1}), None),
        # an elevator's running flag is not a pump's start
        ("e", ({"speed_mps": 0.0, "running": 0}, {"speed_mps": 0.0, "running": 1}), None),
        # a pump started and stopped locally
        ("p", ({"running": 0}, {"running": 1}), Sign.PUMP_STARTED),
        ("p", ({"running": 1}, {"running": 0}), Sign.PUMP_STOPPED),
        # a breaker opened (a phase current falls to zero), or a current that stays up
        ("b", ({"current_l1_a": 80.0}, {"current_l1_a": 0.0}), Sign.BREAKER),
        ("b", ({"current_l1_a": 80.0}, {"current_l1_a": 75.0}), None),
    ],
)  # fmt: skip
def test_signs(asset: str, values: tuple[dict[str, float], ...], sign: Sign | None) -> None:
    signs = Signs()
    signs.observe(frames(asset, *values))
    seen = signs.newest(asset)
    assert (seen.sign if seen else None) is sign
    assert [s.sign for s in signs.drain()] == ([sign] if sign else [])


@pytest.mark.parametrize(
    ("sign_after_s", "arrival"),
    [
        (None, Arrival.CODE),  # no sign at all: the code only
        (-14 * 60, Arrival.CORROBORATED),  # the car moved 14 minutes before the check-in
        (-16 * 60, Arrival.CODE),  # too long before
        (10 * 60, Arrival.CORROBORATED),  # a sign after the check-in (the shell upgrades it then)
    ],
)
def test_decide_arrival(sign_after_s: float | None, arrival: Arrival) -> None:
    seen = (
        None
        if sign_after_s is None
        else Seen("e", ms_from_utc(T + timedelta(seconds=sign_after_s)), Sign.BREAKER)
    )
    assert decide_arrival(seen, T)[0] is arrival
