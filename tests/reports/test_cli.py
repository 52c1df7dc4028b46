"""``facwatch report`` in a process of its own, on the simulated quarter's databases: it writes the page, the
PDF, the charts and the message, and says which; a wrong ask is an error that names what was wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reports.quarter import Quarter

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _report(quarter: Quarter, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FACWATCH_STATE__URL": quarter.engine.url.render_as_string(hide_password=False),
    }
    command = [
        sys.executable,
        "-m",
        "facwatch.cli",
        "report",
        "--site",
        "demo",
        "--data-dir",
        str(quarter.data_dir),
    ]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=240)


def test_report_renders_one_on_demand(quarter: Quarter, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _report(
        quarter,
        "--kind",
        "monthly",
        "--building",
        "b1",
        "--period",
        "2026-08",
        "--lang",
        "en",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    printed = {Path(line).name for line in done.stdout.split()}
    assert {"monthly-b1-2026-08.en.html", "monthly-b1-2026-08.en.pdf", "monthly-b1-2026-08.en.txt"} <= printed
    assert all((out / name).stat().st_size > 0 for name in printed)
    message = (out / "monthly-b1-2026-08.en.txt").read_text("utf-8")
    assert "27 of 31 days were fault-free" in message  # the same figures as the tests of the figures
    # the visits recorded through the maintenance book, with no other source given
    assert "maintained your building's machines 3 times and had them inspected 1 times" in message
    page = (out / "monthly-b1-2026-08.en.html").read_text("utf-8")
    assert "Trips" in page and "annual inspection passed" in page


def test_a_wrong_ask_names_what_was_wrong(quarter: Quarter, tmp_path: Path) -> None:
    done = _report(
        quarter, "--kind", "monthly", "--building", "b9", "--period", "2026-08", "--out", str(tmp_path)
    )
    assert done.returncode == 1 and "no building 'b9'" in done.stderr
    done = _report(quarter, "--kind", "repair", "--building", "b1", "--out", str(tmp_path))
    assert done.returncode == 2 and "--ticket" in done.stderr
