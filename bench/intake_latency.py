"""Stored → committed latency through the durable findings queue, beside the engine committing inline.

The demo site's simulated readings (the ``incidents`` scenario: an entrapment, a pipe burst, a power
outage), one batch per simulated second, fed live (one batch every ``--pace-ms``):

- inline (the reference, what the gateway did before issue 12): ``AlertService.observe`` on the gateway's
  worker, timed from the call to its return (rules run, alert transaction committed);
- intake (what the gateway does now): ``judge`` + ``Intake.put`` on the gateway's worker (what the gateway
  waits for before it stores and acknowledges), and from ``put`` to the committer thread's commit of that
  batch: for batches with findings (fsync'd to the queue file first) and for all batches (a batch without
  findings is merged in memory and committed when the queue is empty).

Answers the brief's question "committer thread, or the gateway worker while the database is healthy".

Run: .venv/bin/python -m bench.intake_latency [--seconds 3600] [--pace-ms 20] [--state-url URL]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from alerts.engine.intake import Intake, Judgement, Late
from alerts.engine.service import AlertService
from bench.alerts_latency import fmt, service, simulate
from facwatch.config import load_site


class TimedCommitter:
    """The alert service, noting when each judgement's commit returned."""

    def __init__(self, svc: AlertService) -> None:
        self.svc = svc
        self.done: list[tuple[float, int, bool]] = []  # (perf_counter, event_ms, had findings)
        self.lock = threading.Lock()

    def commit(self, judgement: Judgement, late: Late | None = None) -> None:
        self.svc.commit(judgement, late)
        with self.lock:
            self.done.append((time.perf_counter(), judgement.event_ms, bool(judgement.findings)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=3600, help="simulated seconds (one batch each)")
    parser.add_argument("--pace-ms", type=float, default=20.0, help="wall time between batches")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--state-url", default=None, help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    site = load_site("demo", variables={"data_dir": "/nonexistent"})
    batches = simulate(site, args.seconds)
    pace = args.pace_ms / 1000
    with tempfile.TemporaryDirectory() as tmp:

        def url(name: str) -> str:
            return args.state_url or f"sqlite:///{Path(tmp) / name}"

        inline_svc = service(url("inline.db"), site)
        inline: list[float] = []
        for batch in batches:
            t = time.perf_counter()
            inline_svc.observe(batch)
            inline.append((time.perf_counter() - t) * 1000)
            time.sleep(pace)

        committer = TimedCommitter(service(url("intake.db"), site))
        intake = Intake(committer, Path(tmp) / "findings.db", site=site.id)
        intake.start()
        put: list[tuple[float, int, bool]] = []
        worker: list[float] = []
        for batch in batches:
            t = time.perf_counter()
            judgement = committer.svc.judge(batch)
            assert judgement is not None
            t_put = time.perf_counter()
            intake.put(judgement)
            worker.append((time.perf_counter() - t) * 1000)
            put.append((t_put, judgement.event_ms, bool(judgement.findings)))
            time.sleep(pace)
        intake.stop()
    done = committer.done
    with_findings: list[float] = []
    every: list[float] = []
    for t_put, event_ms, had in put[args.warmup :]:
        if had:
            finish = next(t for t, e, h in done if h and e == event_ms)
        else:
            finish = next(t for t, e, h in done if not h and e >= event_ms and t >= t_put)
        (with_findings if had else every).append((finish - t_put) * 1000)
    every += with_findings
    print(
        f"{len(batches)} batches of the demo site ({sum(len(b) for b in batches)} readings), one every {args.pace_ms:g} ms"
    )
    print("                                                       p50 / p99 / max")
    print(f"intake: gateway worker waits (judge + put)           : {fmt(worker[args.warmup :])}")
    print(f"intake: put → committed, batches with findings ({len(with_findings):3d}) : {fmt(with_findings)}")
    print(f"intake: put → committed, every batch                 : {fmt(every)}")
    had = [h for _, _, h in put]
    inline_findings = [ms for ms, h in zip(inline, had, strict=True) if h]
    print(f"reference: inline observe on the worker, every batch : {fmt(inline[args.warmup :])}")
    print(f"reference: inline observe, batches with findings     : {fmt(inline_findings)}")


if __name__ == "__main__":
    main()
