"""SKAB valve1: `facwatch detect`'s code path over every file with ONE configuration, scored by the protocol.

Protocol (../shared/datasets/README.md): in each file the first 400 rows are for fitting, every later row
is scored; F1, FAR (flagged normal rows / normal rows) and MAR (missed anomalous rows / anomalous rows)
are computed point by point over the scored rows of all files together.

The configuration is `alerts.detection.detect.DetectConfig()` (the CLI's default) on six of the eight channels: the
two temperatures are left out because their time constant (tens of minutes) is far longer than the 400 s
fit window, so the fit rows cannot show their normal range (the anomaly-free file drifts 3-8 σ in them with
the pump healthy). docs/detectors.md says what was chosen by looking at valve1's labels and what was not.

Run: .venv/bin/python -m bench.skab [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from alerts.detection.detect import DetectConfig, detect_file, read_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "skab-valve1"
FIT_ROWS = 400
CHANNELS = (
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Voltage",
    "Volume Flow RateRMS",
)
PUBLISHED = (
    # (name, F1, FAR %, MAR %) from the SKAB leaderboard (README of the dataset and the issue)
    ("Conv-AE on valve1", 0.755, 14.4, 31.8),
    ("MSET on valve1", 0.779, 38.5, 15.0),
    ("Conv-AE, whole SKAB", 0.78, 13.55, 28.02),
    ("T²+Q (PCA), whole SKAB", 0.76, 26.62, 24.92),
)


def run_file(
    path: Path, out_dir: Path, config: DetectConfig, labelled: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(flags, labels) of the scored rows, through detect_file and the CSV it writes."""
    out = out_dir / f"{path.stem}.scores.csv"
    detect_file(path, CHANNELS, out, timestamp_column="datetime", sep=";", fit_rows=FIT_ROWS, config=config)
    with out.open(newline="") as handle:
        flags = np.array([row["is_anomaly"] == "1" for row in csv.DictReader(handle)])
    if not labelled:
        return flags[FIT_ROWS:], np.zeros(len(flags) - FIT_ROWS, dtype=bool)
    labels = read_table(path, ["anomaly"], "datetime", ";").values[:, 0] > 0.5
    return flags[FIT_ROWS:], labels[FIT_ROWS:]


def figures(flags: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    tp = int(np.sum(flags & labels))
    fp = int(np.sum(flags & ~labels))
    fn = int(np.sum(~flags & labels))
    tn = int(np.sum(~flags & ~labels))
    f1 = 2 * tp / max(1, 2 * tp + fp + fn)
    return f1, 100 * fp / max(1, fp + tn), 100 * fn / max(1, fn + tp)


def evaluate(data: Path, config: DetectConfig) -> tuple[tuple[float, float, float], float, int, float]:
    files = sorted((data / "valve1").glob("*.csv"), key=lambda p: int(p.stem))
    if not files:
        raise SystemExit(f"no SKAB files under {data / 'valve1'}")
    all_flags, all_labels = [], []
    rows = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            flags, labels = run_file(path, Path(tmp), config)
            all_flags.append(flags)
            all_labels.append(labels)
            rows += len(flags) + FIT_ROWS
        elapsed = time.perf_counter() - started
        free_flags, _ = run_file(
            data / "anomaly-free" / "anomaly-free.csv", Path(tmp), config, labelled=False
        )
    free_rate = 100 * float(np.mean(free_flags))
    return figures(np.concatenate(all_flags), np.concatenate(all_labels)), free_rate, rows, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    print(
        f"SKAB valve1 from {args.data}; fit on the first {FIT_ROWS} rows of each file; channels: {', '.join(CHANNELS)}"
    )
    print(f"{'detector':34} {'F1':>6} {'FAR %':>7} {'MAR %':>7}")
    variants = (
        ("facwatch detect (default config)", DetectConfig()),
        ("  same, model frozen after fit", DetectConfig(learn=False)),
    )
    for name, config in variants:
        (f1, far, mar), free_rate, rows, elapsed = evaluate(args.data, config)
        print(
            f"{name:34} {f1:6.3f} {far:7.2f} {mar:7.2f}   ({rows} rows in {elapsed:.2f} s; "
            f"anomaly-free file flagged {free_rate:.1f} % of rows after its first {FIT_ROWS})"
        )
    for name, f1, far, mar in PUBLISHED:
        print(f"{name:34} {f1:6.3f} {far:7.2f} {mar:7.2f}   (published)")
    print("goal                               ≥0.800  ≤13.50  ≤28.00")


if __name__ == "__main__":
    main()
