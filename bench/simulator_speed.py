"""How fast the simulator writes a long run to files: 30 simulated days of the demo site with ``--out``.

    .venv/bin/python -m bench.simulator_speed [--days 30] [--workers N]

Figures:
1. wall seconds of ``write_run`` for the whole demo site (nine assets, the ``month`` scenario, CSV files and
   labels, one process per core): what ``facwatch simulate --site demo --scenario month --out DIR
   --duration 2592000`` does;
2. the elevator's physics alone over one simulated day (the costliest model): the block path the simulation
   uses (``elevator_block.block``) against its reference, the plain per-step loop (``elevator.step`` once a
   simulated second), both timed in this run. (Pumps and panels are vectorised outright: their ``step`` is a
   one-step block, so a per-step loop of them measures numpy's call overhead, not a reference.)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from facwatch.config import load_site
from facwatch.model import AssetKind
from simulator import elevator, elevator_block
from simulator.engine import asset_rng, local_midnight_ms
from simulator.files import write_run
from simulator.scenario import load_scenario

DAY_S = 86_400


def elevator_day(per_step: bool) -> float:
    """Seconds to simulate one day of the demo's first elevator, by block or step by step."""
    site = load_site("demo", variables={"data_dir": tempfile.gettempdir()})
    car = next(a for a in site.assets if a.kind is AssetKind.ELEVATOR)
    rng = asset_rng(1, car.id)
    state = elevator.initial(car, rng, 0.0)
    began = time.perf_counter()
    if per_step:
        for k in range(DAY_S):
            state, _ = elevator.step(state, 1.0, (), rng, float(k))
    else:
        for hour in range(24):
            t_s = np.arange(hour * 3600, (hour + 1) * 3600, dtype=np.float64)
            state, _ = elevator_block.block(state, 1.0, (), rng, t_s)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description="simulator speed: a long run of the demo site to files")
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    site = load_site("demo", variables={"data_dir": tempfile.gettempdir()})
    start_ms = local_midnight_ms(site, datetime(2026, 3, 2, tzinfo=UTC))
    duration = args.days * DAY_S
    with tempfile.TemporaryDirectory(prefix="fw-simspeed-") as tmp:
        began = time.perf_counter()
        files = write_run(
            site, load_scenario("month"), Path(tmp), duration_s=duration, seed=1, start_ms=start_ms,
            workers=args.workers,
        )  # fmt: skip
        wall = time.perf_counter() - began
        size_mb = sum(p.stat().st_size for p in files.csv_files.values()) / 1e6
    print(
        f"simulator: {args.days:g} simulated days of the demo site ({len(site.assets)} assets, scenario month)"
    )
    print(f"  write_run to CSV on {args.workers} process(es): {wall:7.1f} s wall  ({duration / wall:,.0f}x real time,"
          f" {files.rows:,} rows, {size_mb:,.0f} MB)")  # fmt: skip
    block = elevator_day(per_step=False)
    step = elevator_day(per_step=True)
    print("  one elevator, one simulated day, physics only:")
    print(f"    block path (elevator_block.block): {block:6.2f} s")
    print(
        f"    per-step loop (elevator.step):     {step:6.2f} s   reference; block is {step / block:.1f}x faster"
    )


if __name__ == "__main__":
    main()
