"""Cost of the detector pipeline: µs per reading per channel, and memory per asset for the full profiles.

1. Speed: an hour of the demo site at 1 Hz from the simulator (quiet scenario), fed to ``Rules.observe``
   one batch per second as the gateway hands them over; µs per asset frame and per reading (a reading is
   one channel's value). Beside it: the alert engine's budget, 50 ms p99 per batch, and the batch p99.
2. Memory: every asset's state after three simulated days at one frame a minute (so every bounded window
   — the trend's 48 hourly points, the baseline's buckets — is full), as the pickled size per asset kind;
   then 1,000 assets' states built in memory under tracemalloc, extrapolated to 10,000 assets against
   the 1 GiB goal.

Run: .venv/bin/python -m bench.detectors_cost [--seconds 3600]
"""

from __future__ import annotations

import argparse
import pickle
import time
import tracemalloc
from collections import defaultdict

import numpy as np

from alerts.detection.rules import Rules
from facwatch.config import load_site
from facwatch.model import Reading, Site
from simulator.engine import Simulation
from simulator.scenario import load_scenario

START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z
GIB = 1024**3


def batches(site: Site, seconds: int, step_s: float) -> list[list[Reading]]:
    """The simulator's readings, one batch per step (every asset's frame of that instant)."""
    sim = Simulation(site, load_scenario("quiet"), seed=1, start_ms=START_MS, step_s=step_s)
    out: dict[int, list[Reading]] = defaultdict(list)
    for tick in sim.run(seconds):
        if tick.wire == "offline":
            continue
        out[tick.ts_ms].extend(
            Reading(site.id, tick.asset.id, ch, tick.ts_ms, float(v)) for ch, v in tick.values.items()
        )
    return [out[k] for k in sorted(out)]


def speed(site: Site, seconds: int) -> None:
    data = batches(site, seconds, 1.0)
    rules = Rules(site)
    times = []
    for batch in data:
        started = time.perf_counter()
        rules.observe(batch)
        times.append(time.perf_counter() - started)
    readings = sum(len(b) for b in data)
    frames = sum(len({r.asset for r in b}) for b in data)
    total = sum(times)
    p99_ms = float(np.quantile(times, 0.99)) * 1000
    print(f"speed: {seconds} s of the demo site, {frames} asset frames, {readings} readings")
    print(
        f"  {total / readings * 1e6:8.2f} µs per reading per channel   ({total / frames * 1e6:.1f} µs per asset frame)"
    )
    print(
        f"  batch p99 {p99_ms:.3f} ms, max {max(times) * 1000:.3f} ms for {len(site.assets)} assets"
        "  (budget: 50 ms p99 per batch)"
    )
    per_asset_ms = total / frames * 1000
    print(f"  at 1 Hz one core carries about {1000 / per_asset_ms:,.0f} assets")


def memory(site: Site) -> None:
    rules = Rules(site)
    for batch in batches(site, 3 * 86_400, 60.0):
        rules.observe(batch)
    states = rules._assets  # the bench measures the engine's own state
    sizes: dict[str, list[int]] = defaultdict(list)
    for asset in site.assets:
        sizes[asset.kind.value].append(len(pickle.dumps(states[asset.id])))
    print("memory: state per asset after 3 days (pickled, windows full)")
    for kind, values in sorted(sizes.items()):
        print(f"  {kind:9} {max(values) / 1024:6.1f} KiB")
    blobs = [pickle.dumps(states[a.id]) for a in site.assets]
    tracemalloc.start()
    held = [pickle.loads(blobs[i % len(blobs)]) for i in range(1000)]
    used, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_asset = used / len(held)
    print(
        f"  1,000 assets in memory (tracemalloc): {used / 1024**2:.1f} MiB, {per_asset / 1024:.1f} KiB per asset"
    )
    print(f"  10,000 assets: {per_asset * 10_000 / GIB * 1024:.0f} MiB  (goal: fits in 1 GiB = 1024 MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3600)
    args = parser.parse_args()
    site = load_site("demo", variables={"data_dir": "/tmp/facwatch-bench"})
    speed(site, args.seconds)
    memory(site)


if __name__ == "__main__":
    main()
