"""``facwatch influx-setup --config F`` against a real InfluxDB 1.6: what an operator runs and then sees."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facwatch.config import load_settings, load_site
from facwatch.model import Reading, TelemetryQuery
from ingest.factory import influx_store
from tests.fixtures.influx import Influx
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SITE = load_site("demo", {"data_dir": "unused"})
ELEV = next(a for a in SITE.assets if a.kind == "elevator")
MIN = 60_000


def facwatch(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "import sys; from facwatch.cli import main; sys.exit(main())", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, check=False)


def settings_file(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "facwatch.toml"
    path.write_text(
        f'data_dir = "{tmp_path}"\n[telemetry]\nbackend = "influxdb"\ninflux_url = "{url}"\n'
        f'influx_database = "plant"\ninflux_raw_retention_days = 14\ninflux_timeout_s = 2\n{extra}'
    )
    return path


def test_influx_setup_creates_the_database_and_old_history_is_read_from_the_minutes(
    influx: Influx, tmp_path: Path
) -> None:
    config = settings_file(tmp_path, influx.url, "influx_downsample_after_days = 2\n")
    done = facwatch("influx-setup", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "database plant: raw data in facwatch_raw (14 days, the default)" in done.stdout
    assert "1-minute copy in facwatch_1m (730 days)" in done.stdout
    policies = influx.query('SHOW RETENTION POLICIES ON "plant"')[0]["series"][0]["values"]
    assert ["facwatch_raw", "336h0m0s", "24h0m0s", 1, True] in policies  # the default policy
    assert any(p[0] == "facwatch_1m" and p[1] == "17520h0m0s" and p[4] is False for p in policies)
    cqs = {s["name"]: s.get("values", []) for s in influx.query("SHOW CONTINUOUS QUERIES")[0]["series"]}
    assert "RESAMPLE EVERY 1m FOR 1h" in cqs["plant"][0][1]

    # ten days of history at one reading a second for ten minutes, then the copy made with --backfill-days
    now = int(time.time() * 1000)
    old = now - now % (10 * MIN) - 10 * 24 * 3600 * 1000
    store = influx_store(load_settings(config), SITE)
    try:
        store.write([Reading(SITE.id, ELEV.id, "load_kg", old + i * 1000, float(i % 60)) for i in range(600)])
        before_setup = TelemetryQuery(SITE.id, ELEV.id, "load_kg", old, old + 10 * MIN, every_ms=10 * MIN)
        assert store.query(before_setup) == []
        done = facwatch("influx-setup", "--config", str(config), "--backfill-days", "11")
        assert done.returncode == 0, done.stderr
        assert "ok: SELECT mean(*), min(*), max(*), sum(*), count(*), last(*) INTO" in done.stdout
        window = store.query(
            TelemetryQuery(SITE.id, ELEV.id, "load_kg", old, old + 10 * MIN, every_ms=10 * MIN, fn="count")
        )
        assert [(p.ts_ms, p.value) for p in window] == [(old, 600.0)]
        means = store.query(TelemetryQuery(SITE.id, ELEV.id, "load_kg", old, old + 10 * MIN))
        assert [p.value for p in means] == [29.5] * 10  # one point a minute past the age
    finally:
        store.close()


def test_influx_setup_against_a_server_that_is_down_says_so_and_exits_1(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = facwatch("influx-setup", "--config", str(settings_file(tmp_path, url)))
    assert done.returncode == 1
    assert done.stderr.startswith("facwatch: InfluxDB query failed:")
    assert "Traceback" not in done.stderr


def test_influx_setup_refuses_an_age_the_raw_data_does_not_reach(tmp_path: Path) -> None:
    config = settings_file(tmp_path, "http://127.0.0.1:9", "influx_downsample_after_days = 20\n")
    done = facwatch("influx-setup", "--config", str(config))
    assert done.returncode == 1
    assert "influx_downsample_after_days must be shorter than influx_raw_retention_days" in done.stderr
