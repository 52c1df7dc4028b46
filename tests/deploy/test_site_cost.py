"""``bench/site_cost.py --quick`` runs end to end (a real Mosquitto, ``facwatch run --only gateway,alerts`` of this
checkout, the simulator publishing copies of the demo site) and reports figures a sizing model can use: every
site of every count was stored at the demo rate, and the process's memory and CPU were read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.fixtures.servers import find_server

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_site_cost_quick(tmp_path: Path) -> None:
    find_server("mosquitto", "/usr/sbin/mosquitto")
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.site_cost", "--quick", "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = orjson.loads(out.read_bytes())
    assert [f["sites"] for f in figures] == [1, 2]
    for figure in figures:
        assert figure["sites_stored"] == figure["sites"]  # no site was left unconsumed
        assert figure["rss_mib"] > 50  # a real Python process with numpy, SQLAlchemy, paho
        assert figure["cpu_pct"] > 0
    # The demo site sends about 80 readings a second (9 devices once a second); two sites twice that.
    one, two = figures
    assert 50 < one["stored_per_s"] < 120
    assert 1.6 < two["stored_per_s"] / one["stored_per_s"] < 2.4
    assert "(reference)" in done.stdout and "MiB/site" in done.stdout
