"""SKAB valve1 + valve2 + anomaly-free: `facwatch detect`'s code path, all eight channels, ONE configuration.

Protocol (../shared/datasets/README.md): in each file the first 400 rows are for fitting, every later row
is scored; F1, FAR (flagged normal rows / normal rows) and MAR (missed anomalous rows / anomalous rows)
are computed point by point over the scored rows of all files together. Beside them, as an alert system
sees it: alerts opened (rising edges of `is_anomaly`) per asset-week on the anomaly-free file, how many
experiments' valve closures were caught and how long after the onset, and whether the score is an onset
score (high at an alarm's start, low once it has lasted).

The configuration is `alerts.detection.detect.DetectConfig()` (the CLI's default) on every channel: no
channel is chosen by hand; the detector leaves out, per file, the channels its fit rows show to be slow
drift (`slow_channels`). docs/detectors.md says what was chosen by looking at which data.

Run: .venv/bin/python -m bench.skab [--data DIR]   (about 10 s)
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from alerts.detection.detect import DetectConfig, detect_file, read_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
GROUPS = (("skab-valve1", "valve1"), ("skab-valve2", "valve2"))
FREE = ("skab-valve1", "anomaly-free", "anomaly-free.csv")
FIT_ROWS = 400
CHANNELS = (
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
)
PUBLISHED = (
    # (name, F1, FAR %, MAR %) from the SKAB leaderboard (README of the dataset), whole benchmark
    ("Conv-AE, whole SKAB", 0.78, 13.55, 28.02),
    ("MSET, whole SKAB", 0.78, 39.73, 14.13),
    ("T²+Q (PCA), whole SKAB", 0.76, 26.62, 24.92),
    ("LSTM-AE, whole SKAB", 0.74, 29.96, 25.92),
)
WEEK_S = 7 * 86_400


def run_file(path: Path, out_dir: Path, config: DetectConfig) -> tuple[np.ndarray, np.ndarray]:
    """(scores, flags) of every row, through detect_file and the CSV it writes."""
    out = out_dir / f"{path.parent.name}-{path.stem}.scores.csv"
    detect_file(path, CHANNELS, out, timestamp_column="datetime", sep=";", fit_rows=FIT_ROWS, config=config)
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([float(r["anomaly_score"]) for r in rows]), np.array(
        [r["is_anomaly"] == "1" for r in rows]
    )


def figures(flags: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    tp = int(np.sum(flags & labels))
    fp = int(np.sum(flags & ~labels))
    fn = int(np.sum(~flags & labels))
    tn = int(np.sum(~flags & ~labels))
    f1 = 2 * tp / max(1, 2 * tp + fp + fn)
    return f1, 100 * fp / max(1, fp + tn), 100 * fn / max(1, fn + tp)


def rising_edges(flags: np.ndarray) -> int:
    return int(np.sum(flags[1:] & ~flags[:-1]) + (1 if len(flags) and flags[0] else 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    config = DetectConfig()
    print(
        f"SKAB from {args.data}; fit on the first {FIT_ROWS} rows of each file; all {len(CHANNELS)} channels"
    )
    flags_by: dict[str, list[np.ndarray]] = {}
    labels_by: dict[str, list[np.ndarray]] = {}
    delays: list[int] = []
    missed = false_edges = files = rows = 0
    onset_scores: list[float] = []
    later_scores: list[float] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for folder, group in GROUPS:
            paths = sorted((args.data / folder / group).glob("*.csv"), key=lambda p: int(p.stem))
            if not paths:
                raise SystemExit(f"no SKAB files under {args.data / folder / group}")
            for path in paths:
                scores, flags = run_file(path, Path(tmp), config)
                labels = read_table(path, ["anomaly"], "datetime", ";").values[:, 0] > 0.5
                flags_by.setdefault(group, []).append(flags[FIT_ROWS:])
                labels_by.setdefault(group, []).append(labels[FIT_ROWS:])
                files += 1
                rows += len(flags)
                onset = int(np.argmax(labels))
                caught = np.flatnonzero(flags[onset:] & labels[onset:])
                if labels.any() and len(caught):
                    delays.append(int(caught[0]))
                else:
                    missed += 1
                false_edges += rising_edges(flags[FIT_ROWS:] & ~labels[FIT_ROWS:])
                starts = np.flatnonzero(flags[1:] & ~flags[:-1]) + 1
                for start in starts.tolist():
                    onset_scores.append(float(scores[start : start + 30].max()))
                    if start + 150 <= len(flags) and flags[start + 120 : start + 150].all():
                        later_scores.append(float(scores[start + 120 : start + 150].max()))
        elapsed = time.perf_counter() - started
        free_path = args.data.joinpath(*FREE)
        _, free_flags = run_file(free_path, Path(tmp), config)
    free = free_flags[FIT_ROWS:]
    free_weeks = len(free) / WEEK_S  # 1 Hz
    all_flags = np.concatenate([f for g in flags_by.values() for f in g])
    all_labels = np.concatenate([lab for g in labels_by.values() for lab in g])
    print(f"{'':36} {'F1':>6} {'FAR %':>7} {'MAR %':>7}")
    for group in flags_by:
        f1, far, mar = figures(np.concatenate(flags_by[group]), np.concatenate(labels_by[group]))
        print(f"{'facwatch detect, ' + group:36} {f1:6.3f} {far:7.2f} {mar:7.2f}")
    f1, far, mar = figures(all_flags, all_labels)
    print(
        f"{'facwatch detect, valve1 + valve2':36} {f1:6.3f} {far:7.2f} {mar:7.2f}   ({rows} rows in {elapsed:.1f} s)"
    )
    for name, pf1, pfar, pmar in PUBLISHED:
        print(f"{name:36} {pf1:6.3f} {pfar:7.2f} {pmar:7.2f}   (published)")
    print(f"{'goal':36} {'≥0.850':>6} {'≤10.00':>7} {'≤20.00':>7}")
    print(
        f"anomaly-free file: {100 * free.mean():.1f} % of scored rows flagged (goal ≤ 2 %); "
        f"{rising_edges(free)} alerts opened in {len(free) / 3600:.2f} h = "
        f"{rising_edges(free) / free_weeks:.0f} per asset-week"
    )
    print(
        f"valve closures caught: {files - missed} of {files}; time to detect: median {np.median(delays):.0f} s, "
        f"max {max(delays)} s; alerts opened on normal rows of the experiments: {false_edges} in {files} files"
    )
    if onset_scores:
        print(
            f"onset score: median max score in an alarm's first 30 rows {np.median(onset_scores):.2f}; "
            f"2 minutes into an alarm still on: {np.median(later_scores) if later_scores else float('nan'):.2f}"
        )


if __name__ == "__main__":
    main()
