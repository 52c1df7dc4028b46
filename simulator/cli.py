"""What ``facwatch simulate`` does: publish to a broker, or with ``--out`` write files without one."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

import orjson

from facwatch.config import load_site
from simulator.engine import local_midnight_ms
from simulator.files import write_run
from simulator.load import run_load
from simulator.progress import Progress
from simulator.publisher import run_publisher
from simulator.scenario import load_scenario

DEFAULT_FILE_DURATION_S = 86_400.0


def simulate(
    site: str | Path,
    scenario: str,
    broker: str,
    speed: float = 1.0,
    duration: float | None = None,
    seed: int = 0,
    out: Path | None = None,
    progress: bool | None = None,
) -> int:
    """Run the simulator and return the exit code; errors are ``FacwatchError`` (the caller prints them).

    With ``out``: a run of ``duration`` simulated seconds (default a day) from the site's last local
    midnight, written as CSV files and ``labels.jsonl`` as fast as it computes. Without: publish to
    ``broker`` at ``speed`` until ``duration`` or Ctrl-C. ``progress``: a bar of simulated time on stderr
    (None: only on a terminal).
    """
    the_site = load_site(site, variables={"data_dir": str((out or Path("data")).resolve())})
    the_scenario = load_scenario(scenario)
    if out is not None:
        seconds = DEFAULT_FILE_DURATION_S if duration is None else duration
        start_ms = local_midnight_ms(the_site, datetime.now(UTC))
        bar = Progress(seconds, enabled=progress)
        files = write_run(
            the_site,
            the_scenario,
            out,
            duration_s=seconds,
            seed=seed,
            start_ms=start_ms,
            workers=os.cpu_count() or 1,
            progress=bar.update,
        )
        bar.close()
        print(
            f"wrote {files.rows} readings of {len(files.csv_files)} assets ({seconds:.0f} simulated s, "
            f"scenario {the_scenario.name}, seed {seed}) to {out}; ground truth in {files.labels}",
            flush=True,
        )
        return 0
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda _s, _f: stop.set())
    bar = Progress(duration or 0.0, enabled=progress if duration else False)
    report = run_publisher(
        the_site,
        the_scenario,
        broker,
        speed=speed,
        duration_s=duration,
        seed=seed,
        stop=stop,
        progress=bar.update if duration else None,
    )
    bar.close(report.seconds)
    print(
        f"published {report.telemetry} readings and {report.events} events from {len(report.per_asset)} "
        f"devices over {report.seconds} simulated s to {broker}",
        flush=True,
    )
    return 0


def simulate_load(
    broker: str,
    *,
    assets: int,
    rate: float,
    processes: int,
    batch: int,
    qos: int,
    duration: float,
    site_id: str,
) -> int:
    """``facwatch simulate --load``: publish synthetic load, print the JSON report of what was sent."""
    report = run_load(
        broker,
        assets=assets,
        rate=rate,
        processes=processes,
        batch=batch,
        qos=qos,
        duration_s=duration,
        site_id=site_id,
    )
    print(orjson.dumps(report.as_dict()).decode(), flush=True)
    return 0
