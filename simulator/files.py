"""A simulation written to files instead of a broker: one CSV per asset and the ground-truth labels.

OUT/<asset>.csv     ts_ms,<channels of the asset's kind...>   (booleans as 0/1)
OUT/labels.jsonl    one injected fault a line (engine.Label)
OUT/run.json        site, scenario, seed, start and duration: enough to reproduce the run
"""

from __future__ import annotations

import csv
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from facwatch.model import STANDARD_CHANNELS, Site
from simulator.engine import Simulation
from simulator.scenario import Scenario


@dataclass(frozen=True, slots=True)
class RunFiles:
    out_dir: Path
    csv_files: dict[str, Path]
    labels: Path
    rows: int
    """Rows written over all CSV files."""


def write_run(
    site: Site,
    scenario: Scenario,
    out_dir: Path,
    *,
    duration_s: float,
    seed: int = 0,
    start_ms: int,
    workers: int = 1,
) -> RunFiles:
    """Run the simulation for ``duration_s`` simulated seconds as fast as it computes, into ``out_dir``.

    Assets do not influence each other, so each asset's file can be computed in its own process
    (``workers`` > 1, spawned: call it from an importable ``__main__``); the files are the same whatever
    the number of workers.
    """
    sim = Simulation(site, scenario, seed=seed, start_ms=start_ms)  # checks the scenario against the site
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {a.id: out_dir / f"{a.id}.csv" for a in site.assets}
    jobs = [(site, scenario, a.id, paths[a.id], duration_s, seed, start_ms) for a in site.assets]
    count = max(1, min(workers, len(jobs)))
    if count > 1:
        with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows = sum(pool.map(_write_asset, *zip(*jobs, strict=True)))
    else:
        rows = sum(_write_asset(*job) for job in jobs)
    labels = out_dir / "labels.jsonl"
    with labels.open("wb") as fh:
        for label in sim.labels(duration_s):
            fh.write(orjson.dumps(label.as_dict()) + b"\n")
    meta = {
        "site": site.id,
        "scenario": scenario.name,
        "seed": seed,
        "start_ms": start_ms,
        "duration_s": duration_s,
        "assets": {a.id: str(a.kind) for a in site.assets},
    }
    (out_dir / "run.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    return RunFiles(out_dir=out_dir, csv_files=paths, labels=labels, rows=rows)


def _write_asset(
    site: Site, scenario: Scenario, asset_id: str, path: Path, duration_s: float, seed: int, start_ms: int
) -> int:
    """One asset's CSV: the readings it has in the whole site's run (its generator depends on its id)."""
    alone = replace(site, assets=tuple(a for a in site.assets if a.id == asset_id))
    faults = Scenario(scenario.name, scenario.faults_for(asset_id), scenario.description)
    sim = Simulation(alone, faults, seed=seed, start_ms=start_ms)
    columns = list(STANDARD_CHANNELS[alone.assets[0].kind])
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ts_ms", *columns])
        for tick in sim.run(duration_s):
            values = tick.values
            # int() writes a boolean as 0/1; numbers go to the csv module as they are (shortest exact repr).
            writer.writerow(
                [
                    tick.ts_ms,
                    *(int(v) if isinstance(v, bool) else v for v in map(values.__getitem__, columns)),
                ]
            )
            rows += 1
    return rows
