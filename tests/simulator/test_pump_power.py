"""Pumps follow their curve and heat with load; panels follow the compound's day; their faults."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from facwatch.model import Asset, AssetKind
from simulator.engine import Simulation
from simulator.pump import PumpParams

from .helpers import MIDNIGHT, one_asset_site, scenario, series

PUMP = {"pressure_bar": 6.0, "flow_m3h": 30.0, "current_a": 22.0}
PANEL = {"voltage_v": 230.0, "current_a": 400.0, "transformer_kva": 630.0}
HOUR = 3_600_000


def _pump_day(
    asset_id: str = "pump", *faults: tuple[str, str, float, float | None]
) -> list[dict[str, float]]:
    site = one_asset_site(AssetKind.PUMP, asset_id, **PUMP)
    rows = series(Simulation(site, scenario(*faults), seed=11, start_ms=MIDNIGHT), 86_400)[asset_id]
    return [{k: float(x) for k, x in v.items()} for _, v in rows]


def test_pump_operating_points_lie_on_its_curve() -> None:
    rows = _pump_day()
    flow = np.array([r["flow_m3h"] for r in rows])
    head = np.array([r["discharge_pressure_bar"] - r["suction_pressure_bar"] for r in rows])
    params = PumpParams(6.0, 30.0, 22.0, 1.5, standby=False)
    expected = np.array([params.head(q) for q in flow])
    assert np.percentile(np.abs(head - expected), 99) < 0.2
    # Pressure falls as flow rises: the busiest tenth of the day against the quietest tenth.
    busy, quiet = flow >= np.percentile(flow, 90), flow <= np.percentile(flow, 10)
    assert head[busy].mean() < head[quiet].mean() - 0.3
    assert np.corrcoef(flow, head)[0, 1] < -0.9


def test_pump_current_and_bearing_temperature_follow_load() -> None:
    rows = _pump_day()
    flow = np.array([r["flow_m3h"] for r in rows])
    current = np.array([r["motor_current_a"] for r in rows])
    assert np.corrcoef(flow, current)[0, 1] > 0.95
    bearing = np.array([r["bearing_temp_c"] for r in rows])
    night, evening = bearing[3 * 3600 : 4 * 3600].mean(), bearing[20 * 3600 : 21 * 3600].mean()
    assert evening > night + 3
    assert all(r["running"] == 1.0 for r in rows), "a booster pump runs all day"
    # Morning and evening peaks of demand.
    assert flow[7 * 3600 : 8 * 3600].mean() > 2.5 * flow[3 * 3600 : 4 * 3600].mean()
    assert flow[19 * 3600 : 20 * 3600].mean() > 2.5 * flow[3 * 3600 : 4 * 3600].mean()


def test_a_fire_pump_stands_by_with_its_main_held_at_pressure() -> None:
    rows = _pump_day("fire-pump")
    assert all(r["running"] == 0.0 and r["flow_m3h"] == 0.0 and r["motor_current_a"] == 0.0 for r in rows)
    assert min(r["discharge_pressure_bar"] for r in rows) > PUMP["pressure_bar"]


def test_pipe_burst_collapses_pressure_while_flow_and_current_surge() -> None:
    normal = _pump_day()
    burst = _pump_day("pump", ("pump", "pipe_burst", 10 * 3600, 600))
    assert burst[: 10 * 3600] == normal[: 10 * 3600], "nothing changes before the onset"
    during = burst[10 * 3600 + 5 : 10 * 3600 + 600]
    before = normal[10 * 3600 + 5 : 10 * 3600 + 600]
    for key in ("flow_m3h", "motor_current_a"):
        assert min(r[key] for r in during) > 1.3 * max(r[key] for r in before), key
    assert max(r["discharge_pressure_bar"] for r in during) < 0.5 * min(
        r["discharge_pressure_bar"] for r in before
    )
    assert all(r["running"] == 1.0 for r in during)
    after = burst[10 * 3600 + 620 : 10 * 3600 + 900]
    ref = normal[10 * 3600 + 620 : 10 * 3600 + 900]
    mean = np.mean([r["discharge_pressure_bar"] for r in after])
    assert abs(mean - np.mean([r["discharge_pressure_bar"] for r in ref])) < 0.1


def test_a_burst_starts_the_standby_fire_pump() -> None:
    rows = _pump_day("fire-pump", ("fire-pump", "pipe_burst", 3600, 300))
    assert all(r["running"] == 1.0 and r["flow_m3h"] > PUMP["flow_m3h"] for r in rows[3605:3900])
    assert all(r["running"] == 0.0 for r in rows[3900:])


def _panel_day(*faults: tuple[str, str, float, float | None]) -> list[dict[str, float]]:
    site = one_asset_site(AssetKind.POWER, "panel", **PANEL)
    rows = series(Simulation(site, scenario(*faults), seed=4, start_ms=MIDNIGHT), 86_400)["panel"]
    return [{k: float(x) for k, x in v.items()} for _, v in rows]


def test_panel_voltages_frequency_and_power_factor_stay_in_their_bands() -> None:
    rows = _panel_day()
    volts = np.array([[r[f"voltage_{p}_v"] for p in ("l1", "l2", "l3")] for r in rows])
    assert volts.min() > 0.95 * 230 and volts.max() < 1.05 * 230
    assert (volts.max(axis=1) - volts.min(axis=1)).max() < 0.03 * 230, "imbalance stays small"
    assert (volts.max(axis=1) - volts.min(axis=1)).mean() > 0.2, "but the phases are not identical"
    freq = [r["frequency_hz"] for r in rows]
    assert min(freq) > 49.9 and max(freq) < 50.1
    assert all(0.85 <= r["power_factor"] <= 1.0 for r in rows)


def test_transformer_temperature_lags_the_load() -> None:
    rows = _panel_day()
    load = np.array([r["current_l1_a"] + r["current_l2_a"] + r["current_l3_a"] for r in rows])
    temp = np.array([r["transformer_temp_c"] for r in rows])
    load_peak = int(np.argmax(load.reshape(-1, 60).mean(axis=1)))  # minute of the day
    temp_peak = int(np.argmax(temp.reshape(-1, 60).mean(axis=1)))
    assert 18 * 60 <= load_peak <= 22 * 60, "the evening peak"
    assert 15 <= temp_peak - load_peak <= 4 * 60, (load_peak, temp_peak)
    assert load[20 * 3600 : 21 * 3600].mean() > 2 * load[3 * 3600 : 4 * 3600].mean()


def test_power_outage_drops_voltages_and_currents_to_about_zero() -> None:
    rows = _panel_day(("panel", "power_outage", 12 * 3600, 900))
    during = rows[12 * 3600 : 12 * 3600 + 900]
    for r in during:
        assert max(r[f"voltage_{p}_v"] for p in ("l1", "l2", "l3")) < 2.0
        assert max(r[f"current_{p}_a"] for p in ("l1", "l2", "l3")) < 1.0
        assert r["frequency_hz"] == 0.0
    after = rows[12 * 3600 + 900 :]
    assert min(r["voltage_l1_v"] for r in after) > 0.95 * 230


def test_a_duty_standby_pair_takes_turns_and_keeps_the_header_pressure() -> None:
    duty = {**PUMP, "duty_hours": 6.0}
    pair = (
        Asset(id="pump-a", kind=AssetKind.PUMP, building="b1", name="a", rated={**duty, "duty_group": 0.0}),
        Asset(id="pump-b", kind=AssetKind.PUMP, building="b1", name="b", rated={**duty, "duty_group": 1.0}),
    )
    site = replace(one_asset_site(AssetKind.PUMP, "x"), assets=pair)
    rows = series(Simulation(site, scenario(), seed=3, start_ms=MIDNIGHT), 86_400)
    a = [v["running"] for _, v in rows["pump-a"]]
    b = [v["running"] for _, v in rows["pump-b"]]
    assert all(x != y for x, y in zip(a, b, strict=True)), "exactly one of the pair runs at any time"
    assert a[: 6 * 3600] == [True] * 6 * 3600 and a[6 * 3600 : 12 * 3600] == [False] * 6 * 3600
    # The one standing by reads the header its partner holds: after the changeover dip, the normal pressure.
    for name in ("pump-a", "pump-b"):
        pressure = np.array([float(v["discharge_pressure_bar"]) for _, v in rows[name]])
        settled = np.concatenate([pressure[h * 3600 + 60 : (h + 6) * 3600] for h in (0, 6, 12, 18)])
        assert settled.min() > 0.85 * PUMP["pressure_bar"]
        bearing = np.array([float(v["bearing_temp_c"]) for _, v in rows[name]])
        running = np.array([bool(v["running"]) for _, v in rows[name]])
        assert bearing[running].mean() > bearing[~running].mean() + 5, "a pump standing by cools down"
    off = [float(v["motor_current_a"]) for _, v in rows["pump-b"][: 6 * 3600]]
    assert max(off) == 0.0
