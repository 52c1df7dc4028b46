"""A simulation written to files instead of a broker: one CSV per asset and the ground-truth labels.

OUT/<asset>.csv     ts_ms,<channels of the asset's kind...>   (booleans as 0/1; a dropped-out sensor's cell
                    is empty; an offline device has no rows; a skewed clock shows in ts_ms)
OUT/labels.jsonl    one injected fault a line (engine.Label)
OUT/run.json        site, scenario, seed, start and duration: enough to reproduce the run
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from facwatch.model import STANDARD_CHANNELS, Site
from simulator.engine import Simulation
from simulator.faults import Array
from simulator.scenario import Scenario
from simulator.sensors import SPECS


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
    progress: Callable[[float], None] | None = None,
) -> RunFiles:
    """Run the simulation for ``duration_s`` simulated seconds as fast as it computes, into ``out_dir``.

    Assets do not influence each other, so each asset's file can be computed in its own process
    (``workers`` > 1, spawned: call it from an importable ``__main__``); the files are the same whatever
    the number of workers. ``progress`` is told the simulated seconds done (averaged over the assets) now and
    then.
    """
    sim = Simulation(site, scenario, seed=seed, start_ms=start_ms)  # checks the scenario against the site
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {a.id: out_dir / f"{a.id}.csv" for a in site.assets}
    jobs = [(site, scenario, a.id, paths[a.id], duration_s, seed, start_ms) for a in site.assets]
    count = max(1, min(workers, len(jobs)))
    if count > 1:
        rows = _in_processes(jobs, count, progress)
    else:
        rows = 0
        for i, job in enumerate(jobs):
            rows += _write_asset(*job)
            if progress is not None:
                progress(duration_s * (i + 1) / len(jobs))
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


def _in_processes(jobs: list[tuple[Any, ...]], count: int, progress: Callable[[float], None] | None) -> int:
    """The jobs on ``count`` spawned processes, which report their progress through shared memory."""
    ctx = multiprocessing.get_context("spawn")
    done = ctx.Array("d", len(jobs), lock=False)
    with ctx.Pool(count, initializer=_share, initargs=(done,)) as pool:
        pending = pool.starmap_async(_write_shared, [(*job, i) for i, job in enumerate(jobs)])
        while not pending.ready():
            pending.wait(0.2)
            if progress is not None:
                progress(sum(done) / len(jobs))
        rows: list[int] = pending.get()
    return sum(rows)


_DONE: Any = None


def _share(done: Any) -> None:
    global _DONE
    _DONE = done


def _write_shared(
    site: Site,
    scenario: Scenario,
    asset_id: str,
    path: Path,
    duration_s: float,
    seed: int,
    start_ms: int,
    slot: int,
) -> int:
    return _write_asset(site, scenario, asset_id, path, duration_s, seed, start_ms, done=_DONE, slot=slot)


def _write_asset(
    site: Site,
    scenario: Scenario,
    asset_id: str,
    path: Path,
    duration_s: float,
    seed: int,
    start_ms: int,
    done: Any = None,
    slot: int = 0,
) -> int:
    """One asset's CSV: the readings it has in the whole site's run (its generator depends on its id).

    ``done`` (a shared array of doubles, or None) gets the simulated seconds written so far at ``slot``.
    """
    alone = replace(site, assets=tuple(a for a in site.assets if a.id == asset_id))
    faults = Scenario(scenario.name, scenario.faults_for(asset_id), scenario.description)
    sim = Simulation(alone, faults, seed=seed, start_ms=start_ms)
    channels = STANDARD_CHANNELS[alone.assets[0].kind]
    rows = 0
    # One printf-style format a row: booleans as 0/1, numbers to their sensor's resolution.
    row_format = ",".join(
        ["%d", *("%d" if is_bool else f"%.{SPECS[ch].decimals}f" for ch, is_bool in channels.items())]
    )
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(["ts_ms", *channels]) + "\n")
        for _asset, ts, b, at in sim.blocks(duration_s):
            idx = at.astype(np.int64)
            sent = b.wire[idx] != 1  # an offline device sends nothing
            idx, stamps = idx[sent], (ts[sent] + b.skew[idx[sent]]).astype(np.int64)
            if len(idx):
                fh.write(_csv_rows(row_format, stamps, [b.cols[ch][idx] for ch in channels]))
                rows += len(idx)
            if done is not None:
                done[slot] = sim.tick_index * sim.step_s
    return rows


def _csv_rows(row_format: str, stamps: npt.NDArray[np.int64], columns: list[Array]) -> str:
    """CSV lines of a block (a NaN — a dropped-out sensor — is an empty cell)."""
    lists = [c.tolist() for c in columns]
    if any(np.isnan(c).any() for c in columns):
        cells = [_cells(f, col) for f, col in zip(row_format.split(",")[1:], lists, strict=True)]
        lines = map(",".join, zip(map(str, stamps.tolist()), *cells, strict=True))
    else:
        lines = map(row_format.__mod__, zip(stamps.tolist(), *lists, strict=True))
    return "\n".join(lines) + "\n"


def _cells(fmt: str, col: list[float]) -> list[str]:
    return ["" if x != x else fmt % x for x in col]
