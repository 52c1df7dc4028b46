"""The plot script of docs/simulator.md runs and draws (a small figure, to keep it quick)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_plot_script_draws_pngs(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("plot_simulator", ROOT / "scripts" / "plot_simulator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path), "--only", "power-faults"]) == 0
    png = tmp_path / "sim-power-faults.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert set(module.FIGURES) >= {"normal-day", "elevator-faults", "pump-faults", "power-faults", "wear"}
