"""How honest the wear prediction is: the predicted time to the limit against the simulator's ``limit_at``.

For each seed and each wear fault kind (elevator ``wear`` on ``vibration_rms_g``, pump ``bearing_wear`` on
``vibration_rms_mms``) the simulator runs the one asset in-process on event time (``Simulation.blocks``,
1 Hz) from the fault's onset to its limit; the readings the profile's ``when`` lets through (a car at ≥ 90 %
of rated speed, a running pump) are averaged into the trend's hourly buckets exactly as the detector does,
and the profile's ``TrendDetector`` sees one reading per bucket (the same bucket means, so the same state).

Scored per fault, at the first prediction (when ``*.wear_predicted`` would be raised):
- lead: hours from it to the true crossing (goal: ≥ 24 h in ≥ 90 % of wear faults, interval covering);
- error: predicted crossing minus the true one, in hours;
- covered: the interval [earliest, latest] holds the true crossing.
The reference, from the same buckets: an ordinary least-squares straight line over the same window with a
slope interval of ± 2 standard errors, scored at the same moment (when it too predicts a crossing).
Results and what they mean: docs/detectors.md, "Predictions".

Run: .venv/bin/python -m bench.wear_prediction [--seeds 40]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import zlib
from dataclasses import dataclass, replace

import numpy as np

from alerts.detection.trend import TrendDetector
from facwatch.config import load_site
from facwatch.model import Site
from simulator.engine import Simulation
from simulator.faults import LIMITS
from simulator.scenario import Scenario, ScheduledFault

HOUR_MS = 3_600_000
CASES = (
    # kind, asset, channel, gate channel, gate threshold (fraction of rated speed, or running > 0.5)
    ("wear", "b2-elev-1", "vibration_rms_g", "speed_mps", 0.9),
    ("bearing_wear", "b2-pump-1", "vibration_rms_mms", "running", None),
)
LIMIT_AFTER_DAYS = (3.0, 4.5, 5.0)


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    lead_h: float | None
    error_h: float | None
    covered: bool
    ref_error_h: float | None
    ref_covered: bool
    at24_error_h: float | None = None
    """The prediction standing 24 h before the crossing: its error (None: none stood then)."""
    at24_covered: bool = False


def bucket_means(
    site: Site, case: tuple[str, str, str, str, float | None], seed: int, after_s: float
) -> list[tuple[int, float]]:
    kind, asset_id, channel, gate, frac = case
    onset_s = 43_200.0
    scenario = Scenario("wear-bench", (ScheduledFault(asset_id, kind, onset_s, limit_after_s=after_s),))
    asset = site.asset(asset_id)
    assert asset is not None
    sub = replace(site, assets=(asset,))
    sim = Simulation(sub, scenario, seed=seed, start_ms=0)
    rated = float(asset.rated.get("speed_mps", 0.0)) if frac is not None else 0.0
    phase_ms = (zlib.crc32(asset_id.encode()) % 3600) * 1000
    sums: dict[int, list[float]] = {}
    for _, ts, block, rows in sim.blocks(onset_s + after_s):
        r = rows.astype(np.int64)
        x = block.cols[channel][r]
        g = block.cols[gate][r]
        ok = (g >= frac * rated) if frac is not None else (g > 0.5)
        ok &= ~np.isnan(x)
        b = ((ts - phase_ms) // HOUR_MS).astype(np.int64)
        for bucket in np.unique(b[ok]):
            sel = ok & (b == bucket)
            acc = sums.setdefault(int(bucket), [0.0, 0.0])
            acc[0] += float(x[sel].sum())
            acc[1] += float(sel.sum())
    return [(int(k * HOUR_MS + phase_ms), s / n) for k, (s, n) in sorted(sums.items())]


def least_squares(
    points: list[tuple[float, float]], limit: float, now_s: float
) -> tuple[float, float, float] | None:
    """Seconds to the limit from an OLS line, with the bounds from its slope's 95 % interval."""
    t = np.asarray([p[0] for p in points])
    y = np.asarray([p[1] for p in points])
    n = len(t)
    tm = t - t.mean()
    slope = float((tm * (y - y.mean())).sum() / (tm**2).sum())
    resid = y - (y.mean() + slope * tm)
    se = math.sqrt(float((resid**2).sum()) / (n - 2) / float((tm**2).sum()))
    level = float(y.mean() + slope * (now_s - t.mean()))
    if slope <= 0 or level >= limit:
        return None
    lo_s, hi_s = slope - 2 * se, slope + 2 * se
    mid = (limit - level) / slope
    return mid, (limit - level) / hi_s, ((limit - level) / lo_s if lo_s > 0 else math.inf)


def one(site: Site, case: tuple[str, str, str, str, float | None], seed: int, after_days: float) -> Outcome:
    after_s = after_days * 86_400
    truth_ms = int((43_200 + after_s) * 1000)
    limit = LIMITS[case[2]]
    det = TrendDetector(limit=limit, bucket_s=3600, window=48, min_points=12, horizon_s=604_800)
    name = f"{case[0]}@{case[1]} seed {seed} limit after {after_days:g} d"
    first: Outcome | None = None
    at24: tuple[float | None, bool] = (None, False)
    for ts_ms, mean in bucket_means(site, case, seed, after_s):
        det.learn_one(mean, ts_ms)
        p = det.prediction
        if ts_ms <= truth_ms - 24 * HOUR_MS:
            standing = None if p is None else (p.predicted_at_ms - truth_ms) / HOUR_MS
            at24 = (standing, p is not None and p.earliest_ms <= truth_ms <= p.latest_ms)
        if p is None or ts_ms >= truth_ms or first is not None:
            continue
        ref = least_squares(det._points, limit, ts_ms / 1000)
        ref_err = ref_cov = None
        if ref is not None:
            ref_err = (ts_ms + ref[0] * 1000 - truth_ms) / HOUR_MS
            ref_cov = ts_ms + ref[1] * 1000 <= truth_ms <= ts_ms + ref[2] * 1000
        first = Outcome(
            name,
            (truth_ms - ts_ms) / HOUR_MS,
            (p.predicted_at_ms - truth_ms) / HOUR_MS,
            p.earliest_ms <= truth_ms <= p.latest_ms,
            ref_err,
            bool(ref_cov),
        )
    if first is None:
        return Outcome(name, None, None, False, None, False, *at24)
    return replace(first, at24_error_h=at24[0], at24_covered=at24[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    site = load_site("demo", variables={"data_dir": "/tmp/facwatch-bench"})
    started = time.monotonic()
    outcomes = [
        one(site, case, seed, days)
        for case in CASES
        for days in LIMIT_AFTER_DAYS
        for seed in range(args.seeds)
    ]
    n = len(outcomes)
    found = [o for o in outcomes if o.lead_h is not None]
    ahead = [o for o in found if o.lead_h is not None and o.lead_h >= 24]
    goal = [o for o in ahead if o.covered]
    print(f"{n} wear faults simulated in {time.monotonic() - started:.0f} s")
    print(f"predicted before the limit: {len(found)}/{n}; ≥ 24 h ahead: {len(ahead)}/{n}")
    print(
        f"≥ 24 h ahead with the interval covering the truth: {len(goal)}/{n} ({100 * len(goal) / n:.0f} %; goal ≥ 90 %)"
    )
    if found:
        errs = [o.error_h for o in found if o.error_h is not None]
        leads = [o.lead_h for o in found if o.lead_h is not None]
        print(
            f"Theil-Sen: lead median {statistics.median(leads):.1f} h (min {min(leads):.1f}); error median "
            f"{statistics.median(errs):+.1f} h, median |error| {statistics.median(abs(e) for e in errs):.1f} h; "
            f"interval covers {sum(o.covered for o in found)}/{len(found)}"
        )
        ref = [o for o in found if o.ref_error_h is not None]
        if ref:
            rerr = [o.ref_error_h for o in ref if o.ref_error_h is not None]
            print(
                f"least squares (reference, same window and moment, {len(ref)} of them): error median "
                f"{statistics.median(rerr):+.1f} h, median |error| {statistics.median(abs(e) for e in rerr):.1f} h; "
                f"interval covers {sum(o.ref_covered for o in ref)}/{len(ref)}"
            )
    stood = [o for o in outcomes if o.at24_error_h is not None]
    if stood:
        e24 = [o.at24_error_h for o in stood if o.at24_error_h is not None]
        print(
            f"the prediction standing 24 h before the limit: {len(stood)}/{n}; error median "
            f"{statistics.median(e24):+.1f} h; interval covers {sum(o.at24_covered for o in stood)}/{n}"
        )
    short = [o for o in outcomes if o.lead_h is None or o.lead_h < 24 or not o.covered]
    for o in short[:12]:
        lead = "never" if o.lead_h is None else f"{o.lead_h:.1f} h ahead"
        err = "" if o.error_h is None else f", error {o.error_h:+.1f} h, covered {o.covered}"
        print(f"  short: {o.name}: {lead}{err}")
    if len(short) > 12:
        print(f"  ... and {len(short) - 12} more short of the goal")


if __name__ == "__main__":
    main()
