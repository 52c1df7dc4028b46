"""Adaptive detectors proposed for the shipped profiles, measured before they are shipped.

Each candidate is one watch added to a shipped profile (pump: multivariate T² on discharge pressure, flow,
motor current and vibration while running; power: the three phase currents together, i.e. phase balance;
elevator: ride quality, the vibration at speed against the car's own robust baseline). It is measured on
the simulator with the other watches of the profile unchanged:

- false alarms: the candidate's findings on normal operation (the assets of its kind on the demo site,
  ``--days`` simulated days, ``--seeds`` seeds), per asset-week and per asset-month, beside the findings of
  the profile without it in the same run (its other watches are unchanged, so the same run gives both);
- help: in the pump and power fault scenarios, which labelled faults the candidate also raises, and how long
  before or after the profile's own finding for the fault.

A candidate is shipped only when it raises well under one finding per asset-month on normal operation AND
finds something the rules do not (or earlier); docs/detectors.md records the figures and the decision.

Run: .venv/bin/python -m bench.detectors_candidates [--days 7] [--seeds 1] [--kind pump|power|elevator] [--alone]
"""

from __future__ import annotations

import argparse
import time
import tomllib
from dataclasses import replace
from pathlib import Path

from alerts.detection.profile import Profile, parse_profile
from alerts.detection.rules import default_profiles
from bench.detectors_sim import WEEK_S, Tally, run, scenario_duration
from facwatch.config import load_site
from facwatch.model import AssetKind, Finding, Site
from simulator.engine import Label
from simulator.scenario import Scenario, load_scenario

PROFILES = Path(__file__).resolve().parents[1] / "alerts" / "detection" / "profiles"
CANDIDATES: dict[AssetKind, tuple[str, str]] = {
    AssetKind.PUMP: (
        "pump.abnormal_operation",
        """
[[watch]]
finding = "pump.abnormal_operation"
level = "yellow"
summary = "Pressure, flow, current and vibration no longer agree"
signal = ["discharge_pressure_bar", "flow_m3h", "motor_current_a", "vibration_rms_mms"]
detector = "pca"
when = ["running"]
params = { warmup = 3600, refit_every = 600, memory = 86400 }
decide = { above = 30, hysteresis = 10, min_duration_s = 120 }
""",
    ),
    AssetKind.POWER: (
        "power.phase_imbalance",
        """
[[watch]]
finding = "power.phase_imbalance"
level = "yellow"
summary = "The three phase currents no longer move together"
signal = ["current_l1_a", "current_l2_a", "current_l3_a"]
detector = "pca"
params = { warmup = 3600, refit_every = 600, memory = 86400 }
decide = { above = 30, hysteresis = 10, min_duration_s = 120 }
""",
    ),
    AssetKind.ELEVATOR: (
        "elevator.ride_quality",
        """
[[watch]]
# Ride quality: the car's vibration at speed against its own robust baseline (median and MAD, one bucket:
# the ride is the same at any hour), more than 4.4 σ out for 5 minutes of riding.
finding = "elevator.ride_quality"
level = "yellow"
summary = "Ride quality: vibration at speed unusual for this car"
signal = "vibration_rms_g"
detector = "baseline"
when = ["speed_mps >= rated.speed_mps * 0.9"]
params = { buckets = 1, rate = 0.01, min_count = 600 }
decide = { above = 0.99999, hysteresis = 0.001, min_duration_s = 300 }
""",
    ),
}
FAULTS = {
    AssetKind.PUMP: ("pumps", "sensors"),
    AssetKind.POWER: ("power", "sensors"),
    AssetKind.ELEVATOR: ("elevators", "wear"),
}


def with_candidate(kind: AssetKind, *, alone: bool = False) -> dict[AssetKind, Profile]:
    """The shipped profiles with the candidate added to its kind's (``alone``: the candidate only)."""
    profiles = default_profiles()
    head = f'[profile]\nkind = "{kind.value}"\nname = "candidate"\n'
    text = (head if alone else (PROFILES / f"{kind.value}.toml").read_text()) + CANDIDATES[kind][1]
    profiles[kind] = parse_profile(tomllib.loads(text), f"{kind.value}.toml + candidate")
    return profiles


def measure(
    site: Site, kind: AssetKind, days: float, seeds: int, faults: tuple[str, ...], *, alone: bool = False
) -> None:
    finding = CANDIDATES[kind][0]
    profiles = with_candidate(kind, alone=alone)
    assets = tuple(a for a in site.assets if a.kind is kind)
    sub = replace(site, assets=assets)
    t0 = time.perf_counter()
    false: list[Finding] = []
    own: list[Finding] = []
    asset_s = 0.0
    for seed in range(seeds):
        _, findings = run(sub, Scenario(name="normal"), 100 + seed, days * 86_400, Tally(), profiles)
        false += [f for f in findings if f.active and f.kind == finding]
        own += [f for f in findings if f.active and f.kind != finding]
        asset_s += days * 86_400 * len(assets)
    weeks = asset_s / WEEK_S
    if weeks:  # --days 0: the fault scenarios only
        print(
            f"{finding}: normal operation {asset_s / 86_400:.0f} asset-days ({len(assets)} assets × {days:g} d × "
            f"{seeds} seeds) in {time.perf_counter() - t0:.0f} s: {len(false)} findings = "
            f"{len(false) / weeks:.2f} per asset-week, {len(false) / weeks * 30 / 7:.2f} per asset-month; "
            + (
                "(alone: the profile without it is bench.detectors_sim's normal days)"
                if alone
                else f"the profile without it: {len(own)} = {len(own) / weeks * 30 / 7:.2f} per asset-month "
                f"{sorted({f.kind for f in own})}"
            ),
            flush=True,
        )
    for f in false[:5]:
        print(f"  candidate on normal operation: {f.asset} at {f.ts_ms} {dict(f.detail)}")
    for name in faults:
        scenario = load_scenario(name)
        ours = {a.id for a in assets}
        scenario = replace(scenario, faults=tuple(f for f in scenario.faults if f.asset in ours))
        if not scenario.faults:
            continue
        labels, findings = run(site, scenario, 0, scenario_duration(scenario), Tally(), profiles)
        for label in labels:
            if label.asset in {a.id for a in assets}:
                print(f"  {name}: {judge(label, findings, finding)}", flush=True)


def judge(label: Label, findings: list[Finding], finding: str) -> str:
    """The profile's own finding for a labelled fault and the candidate's, each with its delay."""
    own = next(
        (
            f
            for f in findings
            if f.active
            and f.asset == label.asset
            and f.kind == label.finding
            and f.ts_ms >= label.onset_ms - 1000
        ),
        None,
    )
    until = (label.end_ms or label.limit_at_ms or label.onset_ms + 3_600_000) + 120_000
    cand = next(
        (
            f
            for f in findings
            if f.active
            and f.asset == label.asset
            and f.kind == finding
            and label.onset_ms - 1000 <= f.ts_ms <= until
        ),
        None,
    )
    rule = "MISSED" if own is None else f"{(own.ts_ms - label.onset_ms) / 1000:.0f} s"
    extra = "not raised" if cand is None else f"raised after {(cand.ts_ms - label.onset_ms) / 1000:.0f} s"
    return f"{label.fault}@{label.asset}: the profile's {label.finding} {rule}; candidate {extra}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--kind", choices=[k.value for k in CANDIDATES], action="append")
    parser.add_argument("--faults", help="comma-separated fault scenarios instead of the kind's (or none)")
    parser.add_argument(
        "--alone",
        action="store_true",
        help="the candidate without the rest of its profile: its own figures only, several times faster",
    )
    args = parser.parse_args()
    site = load_site("demo", variables={"data_dir": "/tmp/facwatch-bench"})
    for kind in CANDIDATES:
        if args.kind and kind.value not in args.kind:
            continue
        faults = FAULTS[kind] if args.faults is None else tuple(n for n in args.faults.split(",") if n)
        measure(site, kind, args.days, args.seeds, faults, alone=args.alone)


if __name__ == "__main__":
    main()
