"""The engine's pure decisions, one row a case: policy per kind and asset, flapping, recurrence, the on-call
rota, inhibition and the site file's ``[alerts]``/``[[rota]]`` tables."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine import conditions, inhibit, policy, rota
from facwatch.config import load_site, parse_site
from facwatch.errors import ConfigError
from facwatch.model import AlertPolicy, AlertRule, AssetKind, Level, Reading, RotaEntry, Site

SITE = load_site("demo", variables={"data_dir": "/nonexistent"})
RULES = AlertPolicy(
    rules=(
        AlertRule(kind="pump.*", hold_s=300),
        AlertRule(kind="pump.dry_run", level=Level.ORANGE, pending_s=10),
        AlertRule(kind="pump.dry_run", asset="b2-fire-pump", level=Level.RED),
        AlertRule(kind="*", pending_s=2),
        AlertRule(kind="device.offline", pending_s=30, hold_s=5),
    )
)


@pytest.mark.parametrize(
    ("asset", "kind", "own", "expected"),
    [
        ("b1-pump-1", "pump.dry_run", Level.ORANGE, (Level.ORANGE, 10.0, 300.0)),  # kind rule + prefix hold
        ("b2-fire-pump", "pump.dry_run", Level.ORANGE, (Level.RED, 10.0, 300.0)),  # the asset's rule wins
        ("b1-pump-1", "pump.cavitation", Level.ORANGE, (Level.ORANGE, 2.0, 300.0)),  # prefix, then catch-all
        ("b1-elev-1", "elevator.entrapment", Level.RED, (Level.RED, 2.0, 60.0)),  # catch-all + default hold
        ("b1-elev-1", "device.offline", Level.BLUE, (Level.BLUE, 30.0, 5.0)),  # exact beats catch-all
        (
            "b1-elev-1",
            "elevator.wear_predicted",
            Level.ORANGE,
            (Level.YELLOW, 2.0, 60.0),
        ),  # predictions: YELLOW
    ],
)
def test_policy_resolves_the_most_specific_rule(
    asset: str, kind: str, own: Level, expected: tuple[Level, float, float]
) -> None:
    kp = policy.resolve(RULES, asset, kind, own, default_hold_s=60.0)
    assert (kp.level, kp.pending_s, kp.hold_s) == expected


def test_without_rules_a_finding_keeps_its_level_opens_at_once_and_holds_the_default() -> None:
    kp = policy.resolve(AlertPolicy(), "b1-pump-1", "pump.pipe_burst", Level.RED, default_hold_s=60.0)
    assert (kp.level, kp.pending_s, kp.hold_s) == (Level.RED, 0.0, 60.0)


T = datetime(2026, 1, 1, tzinfo=UTC)
FLAP = AlertPolicy(flap_cycles=3, flap_window_s=600)


@pytest.mark.parametrize(
    ("cleared_s", "now_s", "incidents", "flapping", "expected"),
    [
        (None, 100, 1, False, conditions.HoldReason.WAIT),  # still active
        (0, 59, 1, False, conditions.HoldReason.WAIT),  # normal, but not for the hold yet
        (0, 60, 1, False, conditions.HoldReason.RESOLVE),  # normal for the hold: resolved
        (0, 60, 2, False, conditions.HoldReason.RESOLVE),  # two incidents are not flapping yet
        (0, 60, 3, False, conditions.HoldReason.FLAPPING),  # the third in the window: held open
        (0, 300, 3, True, conditions.HoldReason.WAIT),  # a flapping alert waits a whole window
        (0, 600, 3, True, conditions.HoldReason.RESOLVE),  # ... then resolves
    ],
)
def test_resolve_step(
    cleared_s: float | None, now_s: float, incidents: int, flapping: bool, expected: conditions.HoldReason
) -> None:
    cleared = None if cleared_s is None else T + timedelta(seconds=cleared_s)
    got = conditions.decide_hold(cleared, T + timedelta(seconds=now_s), 60.0, incidents, FLAP, flapping)
    assert got is expected


@pytest.mark.parametrize(
    ("kind", "incidents", "expected"),
    [
        ("pump.pipe_burst", 2, False),  # two in the window: not yet
        ("pump.pipe_burst", 3, True),  # the third: rectify
        ("pump.pipe_burst", 5, True),  # and later ones (the engine keeps one rectification open)
        ("pump.pipe_burst.recurrence", 9, False),  # a rectification does not recur on itself
        ("pump.wear_predicted", 9, False),  # nor does a prediction
    ],
)
def test_recurrence_due(kind: str, incidents: int, expected: bool) -> None:
    assert policy.recurrence_due(kind, incidents, AlertPolicy()) is expected


ROTA_SITE = dataclasses.replace(
    SITE,
    rota=(
        RotaEntry(day="eng-wang", night="sup-li"),
        RotaEntry(day="sup-li", night="mgr-zhao", building="b2"),
        RotaEntry(day="mgr-zhao", night="eng-wang", building="b2", asset_kind=AssetKind.PUMP),
    ),
)
NO_ROTA = dataclasses.replace(SITE, rota=(), fallback=None)
DAY = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
NIGHT = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai


@pytest.mark.parametrize(
    ("site", "building", "kind", "when", "expected"),
    [
        (ROTA_SITE, "b1", AssetKind.ELEVATOR, DAY, "eng-wang"),  # catch-all, day
        (ROTA_SITE, "b1", AssetKind.ELEVATOR, NIGHT, "sup-li"),  # catch-all, night duty
        (ROTA_SITE, "b2", AssetKind.ELEVATOR, DAY, "sup-li"),  # the building's entry
        (ROTA_SITE, "b2", AssetKind.PUMP, NIGHT, "eng-wang"),  # building and kind: the most specific
        (
            ROTA_SITE,
            "b2",
            AssetKind.PUMP,
            datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
            "eng-wang",
        ),  # 20:00: night
        (ROTA_SITE, "b2", AssetKind.PUMP, datetime(2026, 1, 5, 0, 0, tzinfo=UTC), "mgr-zhao"),  # 08:00: day
        (SITE, "b1", AssetKind.PUMP, NIGHT, "eng-chen"),  # the demo's rota: night duty
        (NO_ROTA, "b1", AssetKind.PUMP, NIGHT, "eng-wang"),  # no rota: the chain's first
        (dataclasses.replace(NO_ROTA, fallback="mgr-zhao"), "b1", None, DAY, "mgr-zhao"),  # no rota: fallback
        (dataclasses.replace(NO_ROTA, on_call=()), "b1", None, DAY, None),  # nobody at all
    ],
)
def test_on_call(
    site: Site, building: str, kind: AssetKind | None, when: datetime, expected: str | None
) -> None:
    person = rota.on_call(site, building, kind, when)
    assert (None if person is None else person.id) == expected


def _asset(asset_id: str) -> object:
    asset = SITE.asset(asset_id)
    assert asset is not None
    return asset


@pytest.mark.parametrize(
    ("asset", "kind", "expected"),
    [
        ("b1-elev-1", "device.offline", True),  # a device gone dark with its building's power
        ("b1-pump-1", "pump.dry_run", True),  # a pump alert in a building without power
        ("b1-elev-1", "elevator.out_of_service", True),  # an elevator alert too
        ("b1-elev-1", "elevator.entrapment", False),  # never: people may be inside
        ("b1-elev-1", "elevator.possible_entrapment", False),  # never
        ("b1-pump-1", "pump.pipe_burst.recurrence", False),  # rectification work stays work
        ("b1-panel", "power.overload", False),  # the panel's own alerts are not explained by it
    ],
)
def test_suppressible(asset: str, kind: str, expected: bool) -> None:
    a = SITE.asset(asset)
    assert a is not None and inhibit.suppressible(a, kind) is expected


def test_motion_remembers_the_last_movement_within_the_lookback() -> None:
    motion = inhibit.Motion()
    motion.observe([Reading("lakeside", "b1-elev-1", "speed_mps", 1_000, 1.6)])
    motion.observe([Reading("lakeside", "b1-elev-1", "speed_mps", 2_000, 0.0)])  # stopped: not movement
    assert motion.moving_at("b1-elev-1", 5_000) == 1.6
    assert motion.moving_at("b1-elev-1", 1_000 + inhibit.MOVING_LOOKBACK_MS + 1) is None  # too long ago
    assert motion.moving_at("b1-elev-2", 5_000) is None  # never seen moving


DEMO_HEAD = {
    "site": {"id": "s", "timezone": "Asia/Shanghai"},
    "buildings": [{"id": "b1"}],
    "assets": [{"id": "p1", "kind": "pump", "building": "b1", "checkin_code": "HV7Q-3KXP"}],
    "people": [{"id": "e1"}, {"id": "e2"}],
}


def test_site_file_alerts_and_rota_tables() -> None:
    data = {
        **DEMO_HEAD,
        "alerts": {
            "recurrence_count": 4,
            "lateness_s": 60,
            "rules": [{"kind": "pump.*", "asset": "p1", "level": "red", "pending_s": 5, "hold_s": 120}],
        },
        "rota": [{"day": "e1", "night": "e2", "building": "b1", "asset_kind": "pump"}],
        "escalation": {"chain": ["e1", "e2"], "fallback": "e2", "day_start": "07:00", "day_end": "19:00"},
    }
    site = parse_site(data, "test", {})
    assert site.alerts.recurrence_count == 4 and site.alerts.lateness_s == 60.0
    assert site.alerts.rules == (AlertRule("pump.*", "p1", Level.RED, 5.0, 120.0),)
    assert site.rota == (RotaEntry("e1", "e2", "b1", AssetKind.PUMP),)
    assert (site.fallback, site.day_hours) == ("e2", (7, 19))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alerts": {"recurrence_count": 0}}, "greater than 0"),  # zero makes no sense
        (
            {"alerts": {"recurence_count": 3}},
            "did you mean 'recurrence_count'",
        ),  # a typo is named, not ignored
        (
            {"alerts": {"rules": [{"kind": "pump.*", "level": "purple"}]}},
            "expected 'red', 'orange', 'yellow' or 'blue'",
        ),  # no such level
        ({"alerts": {"rules": [{"kind": "pump.*", "asset": "p9"}]}}, "no asset 'p9'"),  # no such asset
        ({"alerts": {"rules": [{"level": "red"}]}}, r"rules\[0\]\.kind: missing"),  # what does it apply to?
        ({"rota": [{"day": "e1", "night": "e9"}]}, "no person 'e9'"),  # nobody called e9
        (
            {"rota": [{"day": "e1", "night": "e2", "asset_kind": "boiler"}]},
            r"asset_kind: expected 'elevator', 'pump' or 'power'",
        ),
        ({"escalation": {"fallback": "e9"}}, "fallback"),  # the fallback must exist
        ({"escalation": {"day_start": "20:00", "day_end": "08:00"}}, "before day_end"),
        ({"escalation": {"day_start": "8am"}}, "whole hour"),
    ],
)
def test_bad_site_tables_are_refused_with_the_reason(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_site({**DEMO_HEAD, **change}, "test", {})
