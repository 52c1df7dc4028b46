"""The simulation as a whole: reproducible, faults only where the scenario puts them, scenarios, labels."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
import pytest

from facwatch.errors import ConfigError
from facwatch.model import STANDARD_CHANNELS
from simulator.engine import Simulation
from simulator.errors import ScenarioError
from simulator.files import write_run
from simulator.scenario import load_scenario, parse_scenario, shipped

from .helpers import MIDNIGHT, demo_site, scenario, series

START = MIDNIGHT + 8 * 3_600_000


def test_same_seed_same_readings_different_seed_different_readings() -> None:
    site, demo = demo_site(), load_scenario("demo")
    first = list(Simulation(site, demo, seed=42, start_ms=START).run(600))
    again = list(Simulation(site, demo, seed=42, start_ms=START).run(600))
    other = list(Simulation(site, demo, seed=43, start_ms=START).run(600))
    assert first == again
    assert [t.values for t in first] != [t.values for t in other]
    assert len(first) == 600 * len(site.assets)
    assert {t.ts_ms for t in first} == {START + 1000 * k for k in range(600)}


def test_every_reading_carries_its_kinds_standard_channels() -> None:
    site = demo_site()
    for tick in Simulation(site, scenario(), seed=1, start_ms=START).run(5):
        assert list(tick.values) == list(STANDARD_CHANNELS[tick.asset.kind])
        for channel, is_bool in STANDARD_CHANNELS[tick.asset.kind].items():
            assert isinstance(tick.values[channel], bool) == is_bool, (tick.asset.id, channel)


def test_the_demo_entrapment_shows_on_its_car_and_nowhere_else() -> None:
    site, demo = demo_site(), load_scenario("demo")
    faulty = series(Simulation(site, demo, seed=9, start_ms=START), 400)
    quiet = series(Simulation(site, load_scenario("quiet"), seed=9, start_ms=START), 400)
    # Before the onset (30 s) and on every other asset, the run is the quiet one.
    assert faulty["b1-elev-1"][:30] == quiet["b1-elev-1"][:30]
    for asset in site.assets:
        if asset.id != "b1-elev-1":
            assert faulty[asset.id] == quiet[asset.id], asset.id
    trapped = [v for _, v in faulty["b1-elev-1"][33:330]]
    assert all(not v["running"] and not v["in_door_zone"] and not v["door_open"] for v in trapped)
    assert all(v["speed_mps"] == 0.0 and float(v["load_kg"]) > 0 for v in trapped)
    assert [v["alarm_button"] for _, v in faulty["b1-elev-1"][30:330]].index(True) in range(19, 22)


def test_the_shipped_library() -> None:
    assert {"demo", "quiet", "incidents"} <= set(shipped())
    demo = load_scenario("demo")
    assert [(f.asset, f.kind, f.at_s) for f in demo.faults] == [("b1-elev-1", "entrapment", 30.0)]
    for name in shipped():
        load_scenario(name).check(demo_site())


def test_a_scenario_file_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[[faults]]\nasset = "b2-panel"\nkind = "power_outage"\nat_s = 5\nduration_s = 10\n')
    loaded = load_scenario(str(path))
    assert loaded.name == "mine"
    assert loaded.faults[0].active_at(4) is None
    assert loaded.faults[0].active_at(7) is not None and loaded.faults[0].active_at(15) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[faults]]\nasset = "x"\nkind = "meteor"\nat_s = 1', "unknown kind 'meteor'"),  # unknown fault
        ('[[faults]]\nasset = "x"\nkind = "entrapment"', "at_s is required"),  # no onset
        ('[[faults]]\nasset = "x"\nkind = "entrapment"\nat_s = -3', "at_s must be"),  # negative time
        ('[[faults]]\nasset = "x"\nkind = "entrapment"\nat_s = 1\nduration_s = 0', "positive"),  # empty fault
        ('[[faults]]\nasset = "x"\nkind = "entrapment"\nat_s = 1\nat = 2', "unknown keys"),  # typo
        ("faults = 3", "array of tables"),  # wrong shape
        ("[[faults]\n", "not valid TOML"),  # broken file
    ],
)
def test_bad_scenarios_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(text, "s.toml")


def test_a_scenario_must_fit_the_site() -> None:
    site = demo_site()
    with pytest.raises(ScenarioError, match="no asset 'b9-elev-1'"):
        Simulation(site, scenario(("b9-elev-1", "entrapment", 1, None)), start_ms=START)
    with pytest.raises(ScenarioError, match="pipe_burst is a fault of a pump"):
        Simulation(site, scenario(("b1-elev-1", "pipe_burst", 1, None)), start_ms=START)
    with pytest.raises(ConfigError, match="no shipped scenario 'nope'"):
        load_scenario("nope")


def test_write_run_writes_csv_per_asset_and_labels_that_agree_with_the_scenario(tmp_path: Path) -> None:
    site, incidents = demo_site(), load_scenario("incidents")
    files = write_run(site, incidents, tmp_path, duration_s=3600, seed=2, start_ms=START)
    assert files.rows == 3600 * len(site.assets)
    for asset in site.assets:
        lines = (tmp_path / f"{asset.id}.csv").read_text().splitlines()
        assert lines[0] == ",".join(["ts_ms", *STANDARD_CHANNELS[asset.kind]])
        assert len(lines) == 3601
        assert lines[1].split(",")[0] == str(START) and lines[-1].split(",")[0] == str(START + 3599 * 1000)
    labels = [orjson.loads(line) for line in (tmp_path / "labels.jsonl").read_bytes().splitlines()]
    assert [(x["asset"], x["fault"], x["level"]) for x in labels] == [
        (f.asset, f.kind, "red") for f in incidents.faults
    ]
    for label, fault in zip(labels, incidents.faults, strict=True):
        assert label["onset_ms"] == START + fault.at_s * 1000
        assert datetime.fromisoformat(label["onset"]).timestamp() * 1000 == label["onset_ms"]
        assert fault.duration_s is not None
        assert label["end_ms"] == label["onset_ms"] + fault.duration_s * 1000
    # The files show what the labels say: the outage's panel reads about zero volts during it.
    panel = (tmp_path / "b2-panel.csv").read_text().splitlines()[1:]
    outage = next(x for x in labels if x["fault"] == "power_outage")
    inside = [r for r in panel if outage["onset_ms"] <= int(r.split(",")[0]) < outage["end_ms"]]
    assert inside and all(float(r.split(",")[1]) < 2 for r in inside)
    meta = orjson.loads((tmp_path / "run.json").read_bytes())
    assert (meta["seed"], meta["start_ms"], meta["scenario"]) == (2, START, "incidents")


def test_labels_leave_out_faults_after_the_run(tmp_path: Path) -> None:
    files = write_run(
        demo_site(), load_scenario("incidents"), tmp_path, duration_s=1000, seed=0, start_ms=START
    )
    faults = [orjson.loads(line)["fault"] for line in files.labels.read_bytes().splitlines()]
    assert faults == ["entrapment", "pipe_burst"]


def test_identical_files_for_the_same_seed(tmp_path: Path) -> None:
    a = write_run(demo_site(), load_scenario("demo"), tmp_path / "a", duration_s=300, seed=5, start_ms=START)
    b = write_run(demo_site(), load_scenario("demo"), tmp_path / "b", duration_s=300, seed=5, start_ms=START)
    for asset_id, path in a.csv_files.items():
        assert path.read_bytes() == b.csv_files[asset_id].read_bytes()


def test_files_do_not_depend_on_the_number_of_worker_processes(tmp_path: Path) -> None:
    site, demo = demo_site(), load_scenario("demo")
    one = write_run(site, demo, tmp_path / "one", duration_s=120, seed=8, start_ms=START)
    two = write_run(site, demo, tmp_path / "two", duration_s=120, seed=8, start_ms=START, workers=2)
    assert one.rows == two.rows == 120 * len(site.assets)
    for asset_id, path in one.csv_files.items():
        assert path.read_bytes() == two.csv_files[asset_id].read_bytes()
