"""``facwatch detect``: score a recorded series causally, one channel or several channels of one machine.

Channels whose fit rows show slow drift that the other channels do not explain are left out
(``slow_channels``); the rest go to the multivariate detector (alerts/detection/multivariate.py; with one
channel it is a robust z²), followed by a causal EWMA and a hysteresis decision (alerts/detection/decide.py)
whose threshold is calibrated on the fit rows and which opens an alarm only at an onset (the evidence well
above its own slow background). The contract (ARCHITECTURE.md): each row is scored before the detector
learns from it, the first ``--fit-rows`` rows are only learned from, and the output has one row per input
row, in order: ``timestamp,anomaly_score,is_anomaly``. The score marks the ONSET of an abnormal condition
(above 0.5 only in an alarm's first rows, then fading); ``is_anomaly`` marks every row under alarm; fit
and warm-up rows score 0. ``--explain`` adds ``confidence`` (0.5 at the threshold) and ``channels``
(the channels carrying the evidence). docs/detectors.md has the reasoning and the figures.

Speed: rows are scored in blocks against the model of the block's start and learned afterwards, with the
blocks ending exactly where the streaming detector refits, so the result equals the point-by-point run
(tests/alerts/test_detect_cli.py checks it) while numpy does the arithmetic; only the EWMA and hysteresis
run per row, on plain floats.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from alerts.detection.decide import EwmaHysteresis, calibrate, switch
from alerts.detection.level import LevelTracker
from alerts.detection.multivariate import PCADetector
from facwatch.errors import ConfigError

TIMESTAMP_GUESSES = ("timestamp", "datetime", "time", "ts")


class DetectInputError(ConfigError):
    """The input CSV cannot be scored as asked (names the file, the row and the column)."""


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """One configuration for every series (no per-file tuning). See docs/detectors.md for the choice."""

    alpha: float = 0.1
    """EWMA weight of the newest raw score (an effective window of about 2/alpha - 1 = 19 rows)."""
    quantile: float = 0.99
    margin: float = 1.25
    """Threshold = margin × the quantile of the smoothed scores of the fit rows."""
    off_ratio: float = 0.7
    variance_kept: float = 1.0
    refit_every: int = 64
    """Rows between refits of the model and moves of the level (a block of rows sees one of each)."""
    learn: bool = True
    """Keep learning after the fit rows (True), or freeze the model fitted on them (False)."""
    accept_after: int = 900
    """Rows of one alarm that are not learned from: a fault is not learned as the new normal, but a
    condition that has lasted longer than this (15 min at 1 Hz) is accepted as one."""
    memory: int = 3600
    """At most this many past rows weigh in the model (older ones fade out at each refit)."""
    warmup: int = 100
    """Rows learned before scoring starts when no fit rows are given."""
    level_rows: float | None = None
    """Time constant (rows) of every channel's adaptive level (alerts/detection/level.py); the detector
    scores the residuals from it, so slow drift is not read as a fault. None: score the raw values."""
    slow_ratio: float = 0.4
    """A column whose fit rows have a variance ratio below this is slow drift, not scored (``slow_channels``)."""
    onset_rows: int = 30
    rise_rows: int | None = 300
    """Time constant (rows) of the raw score's slow background (5 min at 1 Hz). None: no onset test."""
    rise_ratio: float = 3.0
    """An alarm opens only when the smoothed evidence is above the threshold AND this many times its slow
    background: a new problem has an onset; evidence that creeps up is drift, and is learned as normal."""
    """The score keeps an alarm's strength for its first rows, then halves every this many rows."""


@dataclass(frozen=True, slots=True)
class Scored:
    scores: NDArray[np.float64]
    """The onset score: high where an alarm starts, fading while it lasts (see ``DetectConfig.onset_rows``)."""
    flags: NDArray[np.bool_]
    """The decision: the rows under alarm."""
    threshold: float
    confidence: NDArray[np.float64]
    """How strong the evidence is, in [0, 1): 0.5 exactly at the decision threshold."""
    watched: tuple[int, ...]
    """The value columns the detector scores (the others drift slowly; see ``slow_channels``)."""
    contributors: tuple[tuple[int, ...], ...] = ()
    """With ``explain``: per row under alarm, the columns that carry most of the evidence, strongest first."""


def slow_channels(fit_part: NDArray[np.float64], ratio: float) -> NDArray[np.bool_]:
    """Columns whose fit rows show slow drift that the other columns do not explain, decided on the data.

    The variance ratio var(eₜ - eₜ₋₁) / (2 var(e)) is about 1 for a series e that varies around a level
    (its noise is independent from row to row) and near 0 for one that wanders slowly. It is taken on
    each column's residual after a least-squares fit on the other columns, so a flow that follows the
    demand is kept when the pressure and current follow it too (their relation is the evidence), while a
    temperature with a time constant of tens of minutes, which no other column explains, is left out: its
    level on a short fit window is no evidence of a fault. When every column is slow, none is left out.
    """
    rows, width = fit_part.shape
    slow = np.zeros(width, dtype=bool)
    if rows < 3 * (width + 1):
        return slow
    centred = fit_part - fit_part.mean(axis=0)
    for j in range(width):
        others = np.delete(centred, j, axis=1)
        resid = centred[:, j]
        if others.shape[1]:
            coef, *_ = np.linalg.lstsq(others, resid, rcond=None)
            resid = resid - others @ coef
        spread = float(np.var(resid))
        if spread > 1e-12 * max(1.0, float(np.var(centred[:, j]))):
            slow[j] = float(np.var(np.diff(resid))) / (2 * spread) < ratio
    return np.zeros_like(slow) if slow.all() else slow


def score_series(
    values: NDArray[np.float64],
    fit_rows: int = 0,
    config: DetectConfig | None = None,
    *,
    explain: bool = False,
) -> Scored:
    """Scores and decisions for every row of ``values`` (rows × channels; NaN marks a missing value)."""
    cfg = config or DetectConfig()
    n_rows = len(values)
    fit = fit_rows if fit_rows > 0 else cfg.warmup
    scores = np.zeros(n_rows)
    confidence = np.zeros(n_rows)
    flags = np.zeros(n_rows, dtype=bool)
    every = np.all(np.isfinite(values), axis=1)
    slow = slow_channels(values[:fit][every[:fit]], cfg.slow_ratio)
    watched = tuple(int(i) for i in np.flatnonzero(~slow))
    values = values[:, list(watched)]
    finite = np.all(np.isfinite(values), axis=1)
    fit_part = values[:fit][finite[:fit]]
    if len(fit_part) < 2:
        return Scored(scores, flags, math.inf, confidence, watched, ((),) * n_rows if explain else ())
    tracker = LevelTracker(rows=cfg.level_rows) if cfg.level_rows is not None else None
    if tracker is not None:
        fit_part = tracker.causal_residuals(fit_part)
    detector = PCADetector(
        variance_kept=cfg.variance_kept, warmup=len(fit_part), refit_every=cfg.refit_every, memory=cfg.memory
    )
    detector.fit_block(fit_part)
    threshold = calibrate(
        detector.score_many(fit_part), alpha=cfg.alpha, quantile=cfg.quantile, margin=cfg.margin
    )
    decide = EwmaHysteresis(
        alpha=cfg.alpha,
        on=threshold,
        off_ratio=cfg.off_ratio,
        rise_rows=cfg.rise_rows,
        rise_ratio=cfg.rise_ratio,
    )
    contributors: list[tuple[int, ...]] = []
    share_state = np.zeros((1, len(watched)))
    row = fit
    alarm_rows = 0
    while row < n_rows:
        # up to the detector's next refit: every row of the block sees the same (past-only) model and level
        end = min(n_rows, row + max(1, detector.until_refit())) if cfg.learn else n_rows
        block = values[row:end]
        ok = finite[row:end]
        resid = tracker.residuals(block) if tracker is not None else block
        raw = np.full(len(block), np.nan)
        if ok.any():
            raw[ok] = detector.score_many(resid[ok])
        shares = _smoothed_shares(detector, resid, ok, cfg.alpha, share_state) if explain else None
        learnable = ok.copy()
        # the per-row part on plain floats (EwmaHysteresis.update, inlined for speed)
        level, active, background, bar = decide.level, decide.active, decide.background, decide.bar
        on, off_ratio, alpha = decide.on, decide.off_ratio, decide.alpha
        drift_weight, rise_ratio = decide.background_weight, decide.rise_ratio
        for i, value in enumerate(raw.tolist()):
            if value == value:  # not NaN
                level = value if level is None else level + alpha * (value - level)
                # an alarm opens only on evidence well above its own slow background (an onset), and
                # ends when the evidence falls back below the bar it crossed; evidence that creeps up is
                # drift, learned as normal
                if active:
                    active = level > off_ratio * bar
                elif level > on and level > rise_ratio * background:
                    active, bar = switch(level, active, bar, on, off_ratio, rise_ratio * background)
                background += drift_weight * (value - background)
            unit = 0.0 if level is None or level <= 0 else level / (level + on)
            alarm_rows = alarm_rows + 1 if active else 0
            confidence[row + i] = unit
            scores[row + i] = unit * _onset_weight(alarm_rows, cfg.onset_rows) if active else unit
            flags[row + i] = active
            if 0 < alarm_rows <= cfg.accept_after:
                learnable[i] = False
            if shares is not None:
                contributors.append(_top(shares[i], watched) if active else ())
        decide.level, decide.active, decide.background, decide.bar = level, active, background, bar
        if cfg.learn and learnable.any():
            detector.fit_block(resid[learnable])
            if tracker is not None:
                tracker.learn_block(block[learnable])
        row = end
    if explain:
        contributors = [()] * fit + contributors
    return Scored(scores, flags, threshold, confidence, watched, tuple(contributors))


def _onset_weight(alarm_rows: int, onset_rows: int) -> float:
    """1 for an alarm's first ``onset_rows`` rows, then halving every ``onset_rows`` rows."""
    if alarm_rows <= onset_rows:
        return 1.0
    return float(0.5 ** ((alarm_rows - onset_rows) / onset_rows))


def _smoothed_shares(
    detector: PCADetector,
    resid: NDArray[np.float64],
    ok: NDArray[np.bool_],
    alpha: float,
    state: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Each channel's share of the score, smoothed like the score (rows without a score add nothing)."""
    shares = np.zeros_like(resid)
    if ok.any():
        shares[ok] = detector.contributions(resid[ok])
    smoothed, state[:] = lfilter([alpha], [1.0, -(1.0 - alpha)], shares, axis=0, zi=(1.0 - alpha) * state)
    return np.asarray(smoothed, dtype=np.float64)


def _top(shares: NDArray[np.float64], watched: tuple[int, ...], least: float = 0.2) -> tuple[int, ...]:
    """The columns carrying at least ``least`` of the positive evidence, strongest first."""
    positive = np.maximum(shares, 0.0)
    total = float(positive.sum())
    if total <= 0:
        return ()
    order = np.argsort(positive)[::-1]
    return tuple(watched[j] for j in order.tolist() if positive[j] >= least * total)


@dataclass(frozen=True, slots=True)
class Table:
    timestamps: list[str]
    values: NDArray[np.float64]


def read_table(path: Path, value_columns: Sequence[str], timestamp_column: str | None, sep: str) -> Table:
    """The timestamp and value columns of a CSV; a clear error for a missing column or a non-number."""
    if not value_columns:
        raise DetectInputError("give at least one --value-column")
    if len(sep) != 1:
        raise DetectInputError(f"the separator must be one character, not {sep!r}")
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DetectInputError(f"{path}: cannot read: {exc.strerror}") from exc
    with handle:
        reader = csv.reader(handle, delimiter=sep)
        header = next(reader, None)
        if header is None:
            raise DetectInputError(f"{path}: empty file (no header row)")
        header = [h.strip() for h in header]
        missing = [c for c in value_columns if c not in header]
        if missing:
            guess = next((c for c in ";\t|," if c != sep and len(header) == 1 and c in header[0]), None)
            hint = f"; try --sep {guess!r}" if guess else ""
            raise DetectInputError(
                f"{path}: no column {', '.join(map(repr, missing))} (columns: {', '.join(header)}; separator {sep!r}){hint}"
            )
        if timestamp_column is not None and timestamp_column not in header:
            raise DetectInputError(
                f"{path}: no timestamp column {timestamp_column!r} (columns: {', '.join(header)})"
            )
        ts_name = timestamp_column or next((h for h in header if h.lower() in TIMESTAMP_GUESSES), None)
        ts_index = header.index(ts_name) if ts_name is not None else None
        indices = [header.index(c) for c in value_columns]
        width = max([*indices, ts_index or 0]) + 1
        rows = [fields for fields in reader if fields]
    if any(len(fields) < width for fields in rows):  # short rows: their missing cells are empty
        rows = [fields + [""] * (width - len(fields)) if len(fields) < width else fields for fields in rows]
    texts = [[fields[index] for fields in rows] for index in indices]
    if ts_index is not None:
        timestamps = [fields[ts_index] for fields in rows]
    else:
        timestamps = [str(i) for i in range(len(rows))]
    columns = [_numbers(column, path, header[index]) for column, index in zip(texts, indices, strict=True)]
    values = np.column_stack(columns) if columns[0].size else np.zeros((0, len(indices)))
    return Table(timestamps, values)


MISSING = ("", "nan", "null", "none", "na")


def _numbers(texts: list[str], path: Path, column: str) -> NDArray[np.float64]:
    """A column as floats (numpy parses the common case at C speed); missing values and inf are NaN."""
    try:
        values = np.asarray(texts, dtype=np.float64)
    except ValueError:
        values = np.empty(len(texts))
        for i, text in enumerate(texts):
            stripped = text.strip()
            if stripped.lower() in MISSING:
                values[i] = math.nan  # a missing value: the row is neither scored nor learned
                continue
            try:
                values[i] = float(stripped)
            except ValueError:
                raise DetectInputError(
                    f"{path}, line {i + 2}, column {column!r}: not a number: {stripped[:40]!r}"
                ) from None
    values[~np.isfinite(values)] = math.nan
    return values


def write_scores(
    path: Path, timestamps: Sequence[str], scored: Scored, names: Sequence[str] | None = None
) -> None:
    """The contract columns; with ``names`` (``--explain``) also ``confidence`` and ``channels``."""
    columns: list[Iterable[object]] = [
        timestamps,
        (f"{s:.6f}" for s in scored.scores.tolist()),
        scored.flags.astype(int).tolist(),
    ]
    header = ["timestamp", "anomaly_score", "is_anomaly"]
    if names is not None:
        header += ["confidence", "channels"]
        columns.append(f"{c:.6f}" for c in scored.confidence.tolist())
        columns.append(" ".join(names[i] for i in top) for top in scored.contributors)
    try:
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(zip(*columns, strict=True))
    except OSError as exc:
        raise DetectInputError(f"{path}: cannot write: {exc.strerror}") from exc


def detect_file(
    input_path: Path,
    value_columns: Sequence[str],
    output_path: Path,
    *,
    timestamp_column: str | None = None,
    sep: str = ",",
    fit_rows: int = 0,
    config: DetectConfig | None = None,
    explain: bool = False,
) -> Scored:
    """Read, score, write; returns the scores (the CLI prints a one-line summary)."""
    if fit_rows < 0:
        raise DetectInputError("--fit-rows must not be negative")
    table = read_table(input_path, value_columns, timestamp_column, sep)
    scored = score_series(table.values, fit_rows, config, explain=explain)
    write_scores(output_path, table.timestamps, scored, list(value_columns) if explain else None)
    return scored
