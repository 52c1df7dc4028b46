"""Profiles: per asset kind, which detector watches which signal and which finding (and level) it raises.

A profile is a TOML file (the shipped ones are alerts/detection/profiles/{elevator,pump,power}.toml; the format is
documented in docs/detectors.md). Each ``[[watch]]`` names:

- ``signal``: a channel (``vibration_rms_g``), a composite signal computed from the fused channels of the
  asset (``entrapment``, ``pressure_ratio`` …, see alerts/detection/rules.py ``SIGNALS``), or a list of channels for
  a multivariate detector;
- ``detector`` and its ``params`` (alerts/detection: threshold, rate, baseline, page_hinkley, cusum,
  stuck, trend, pca); a parameter given as ``"rated.KEY"`` or ``"rated.KEY * 1.15"`` is taken from the
  asset's rated values, so one profile fits pumps of every size;
- ``decide``: for scoring detectors, the score threshold (``above``), ``hysteresis`` and
  ``min_duration_s`` of the decision (a threshold detector decides by itself);
- ``when``: conditions on the fused values that must hold for the watch to see a reading (``running``,
  ``speed_mps >= rated.speed_mps * 0.9``); outside them the watch neither scores nor learns;
- ``finding``, ``level``, ``summary`` and optionally ``level_fire_pump`` (a dry-running fire pump is RED).

Loading checks everything (unknown detector, parameter, level, malformed condition) and names the file and
the watch, so a bad profile fails at start-up, not at the first reading.
"""

from __future__ import annotations

import inspect
import re
import tomllib
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from alerts.detection.baseline import AdaptiveBaseline
from alerts.detection.drift import Cusum, PageHinkley
from alerts.detection.guard import Detector, ScalarWatch, VectorWatch
from alerts.detection.multivariate import PCADetector
from alerts.detection.rate import RateOfChangeDetector
from alerts.detection.repeat import RepeatDetector
from alerts.detection.spectral import SpectralDetector
from alerts.detection.stuck import StuckDetector
from alerts.detection.threshold import ThresholdDetector
from alerts.detection.trend import TrendDetector
from facwatch.errors import ConfigError
from facwatch.model import MACHINE_KINDS, Asset, AssetKind, Level

SCALAR_DETECTORS: Mapping[str, Callable[..., Detector[float]]] = {
    "threshold": ThresholdDetector,
    "rate": RateOfChangeDetector,
    "baseline": AdaptiveBaseline,
    "page_hinkley": PageHinkley,
    "cusum": Cusum,
    "stuck": StuckDetector,
    "trend": TrendDetector,
    "repeat": RepeatDetector,
}
"""Detectors of one value per reading: their signal is a channel or a composite signal."""
VECTOR_DETECTORS: Mapping[str, Callable[..., Detector[Sequence[float]]]] = {
    "pca": PCADetector,
    "spectral": SpectralDetector,
}
"""Detectors of several values together: their signal is a list of channels."""
DETECTORS: Mapping[str, Callable[..., object]] = {**SCALAR_DETECTORS, **VECTOR_DETECTORS}

_RATED = re.compile(r"^rated\.([A-Za-z0-9_]+)(?:\s*\*\s*([0-9.eE+-]+))?$")
_CONDITION = re.compile(r"^(!?)([A-Za-z0-9_]+)(?:\s*(>=|<=|>|<)\s*(.+))?$")

Param = float | int | bool | str | list[list[float]]


@dataclass(frozen=True, slots=True)
class Condition:
    """``channel`` (a flag that must be set), ``!channel`` (must be clear) or ``channel op value``."""

    channel: str
    op: str
    value: str

    def holds(self, asset: Asset, values: Mapping[str, float]) -> bool | None:
        """None when the channel has not been seen yet."""
        reading = values.get(self.channel)
        if reading is None:
            return None
        if self.op in ("set", "clear"):
            return (reading >= 0.5) == (self.op == "set")
        limit = resolve(self.value, asset)
        if not isinstance(limit, float):
            return None
        return {">=": reading >= limit, "<=": reading <= limit, ">": reading > limit, "<": reading < limit}[
            self.op
        ]


@dataclass(frozen=True, slots=True)
class Watch:
    finding: str
    level: Level
    summary: str
    signal: str | tuple[str, ...]
    detector: str
    params: Mapping[str, Param] = field(default_factory=dict)
    decide: Mapping[str, float] = field(default_factory=dict)
    when: tuple[Condition, ...] = ()
    level_fire_pump: Level | None = None
    channel: str | None = None
    """The channel the finding names (default: the signal when it is a channel)."""

    def level_for(self, asset: Asset) -> Level:
        fire = bool(asset.rated.get("standby", 0)) or "fire" in asset.id.lower()
        return self.level_fire_pump if fire and self.level_fire_pump is not None else self.level

    def build(self, asset: Asset) -> ScalarWatch | VectorWatch | None:
        """A fresh detector for this asset (rated parameters resolved) with its decision; None if a rated
        value is missing."""
        params: dict[str, Any] = {}
        for key, raw in self.params.items():
            value = resolve(raw, asset)
            if value is None:
                return None
            params[key] = (
                [tuple(band) for band in value] if key == "bands" and isinstance(value, list) else value
            )
        if self.detector == "trend" and "phase_s" not in params:
            # spread the assets' hourly refits over the hour instead of all in one batch
            params["phase_s"] = float(zlib.crc32(asset.id.encode()) % int(params.get("bucket_s", 3600)))
        if isinstance(self.signal, tuple):
            return VectorWatch(VECTOR_DETECTORS[self.detector](**params), self.decision())
        return ScalarWatch(SCALAR_DETECTORS[self.detector](**params), self.decision())

    def decision(self) -> ThresholdDetector | None:
        """The decision on the detector's score (None: a threshold detector decides by itself)."""
        if self.detector == "threshold":
            return None
        return ThresholdDetector(
            above=self.decide.get("above", 1.0),
            hysteresis=self.decide.get("hysteresis", 0.0),
            min_duration_s=self.decide.get("min_duration_s", 0.0),
        )


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    kind: AssetKind
    watches: tuple[Watch, ...]
    dropout_after_s: float | None = None
    """A channel of the profile silent this long while the asset reports others: ``sensor.dropout``."""
    dropout_channels: tuple[str, ...] = ()


def resolve(raw: Any, asset: Asset) -> Any:
    """A parameter's value: ``"rated.KEY"`` / ``"rated.KEY * F"`` from the asset; numbers as floats."""
    if isinstance(raw, bool | int):
        return raw  # ints stay ints: window sizes and counts
    if isinstance(raw, float):
        return raw
    if isinstance(raw, str):
        match = _RATED.match(raw.strip())
        if match is None:
            try:
                return float(raw)
            except ValueError:
                return raw
        rated = asset.rated.get(match.group(1))
        if rated is None:
            return None
        return rated * (float(match.group(2)) if match.group(2) else 1.0)
    return raw


def load_profile(source: str | Path) -> Profile:
    """A shipped profile by name (``pump``) or a profile file."""
    if isinstance(source, Path) or source.endswith(".toml"):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"profile {path}: cannot read: {exc.strerror}") from exc
        origin = str(path)
    else:
        try:
            text = (
                resources.files("alerts.detection")
                .joinpath("profiles", f"{source}.toml")
                .read_text(encoding="utf-8")
            )
        except (FileNotFoundError, ModuleNotFoundError) as exc:
            raise ConfigError(f"no shipped profile named {source!r} (elevator, pump, power)") from exc
        origin = f"profile {source}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from exc
    return parse_profile(data, origin)


def parse_profile(data: Mapping[str, Any], origin: str) -> Profile:
    head = data.get("profile", {})
    try:
        kind = AssetKind(head.get("kind", ""))
        if kind not in MACHINE_KINDS:
            raise ValueError(kind)
    except ValueError:
        raise ConfigError(
            f"{origin}: [profile] kind must be one of {', '.join(k.value for k in MACHINE_KINDS)}"
        ) from None
    watches = tuple(_watch(raw, f"{origin}, watch {i + 1}") for i, raw in enumerate(data.get("watch", [])))
    dropout = head.get("dropout_after_s")
    return Profile(
        name=str(head.get("name", origin)),
        kind=kind,
        watches=watches,
        dropout_after_s=float(dropout) if dropout is not None else None,
        dropout_channels=tuple(str(c) for c in head.get("dropout_channels", ())),
    )


def _watch(raw: Mapping[str, Any], where: str) -> Watch:
    def fail(msg: str) -> ConfigError:
        return ConfigError(f"{where}: {msg}")

    for key in ("finding", "level", "signal", "detector"):
        if key not in raw:
            raise fail(f"missing {key!r}")
    detector = str(raw["detector"])
    if detector not in DETECTORS:
        raise fail(f"unknown detector {detector!r} (known: {', '.join(DETECTORS)})")
    try:
        level = Level(raw["level"])
        fire_level = Level(raw["level_fire_pump"]) if "level_fire_pump" in raw else None
    except ValueError:
        raise fail(f"level must be one of {', '.join(lv.value for lv in Level)}") from None
    params = dict(raw.get("params", {}))
    known = inspect.signature(DETECTORS[detector]).parameters
    unknown = [k for k in params if k not in known]
    if unknown:
        raise fail(f"detector {detector!r} has no parameter {', '.join(map(repr, unknown))}")
    decide = {str(k): float(v) for k, v in dict(raw.get("decide", {})).items()}
    if set(decide) - {"above", "hysteresis", "min_duration_s"}:
        raise fail("decide takes above, hysteresis, min_duration_s")
    signal_raw = raw["signal"]
    signal: str | tuple[str, ...] = tuple(signal_raw) if isinstance(signal_raw, list) else str(signal_raw)
    if isinstance(signal, tuple) != (detector in VECTOR_DETECTORS):
        raise fail(
            f"detector {detector!r} takes "
            + ("a list of channels" if detector in VECTOR_DETECTORS else "one channel or composite signal")
            + f" (multivariate: {', '.join(VECTOR_DETECTORS)})"
        )
    return Watch(
        finding=str(raw["finding"]),
        level=level,
        summary=str(raw.get("summary", raw["finding"])),
        signal=signal,
        detector=detector,
        params=params,
        decide=decide,
        when=tuple(_condition(str(c), fail) for c in raw.get("when", ())),
        level_fire_pump=fire_level,
        channel=raw.get("channel") or (signal if isinstance(signal, str) else None),
    )


def _condition(text: str, fail: Any) -> Condition:
    match = _CONDITION.match(text.strip())
    if match is None:
        raise fail(f"cannot read condition {text!r} (e.g. 'running', '!door_open', 'speed_mps >= 1.5')")
    negate, channel, op, value = match.groups()
    if op is None:
        return Condition(channel, "clear" if negate else "set", "")
    if negate:
        raise fail(f"condition {text!r}: '!' only goes before a flag")
    value = value.strip()
    if _RATED.match(value) is None:
        try:
            float(value)
        except ValueError:
            raise fail(f"cannot read condition {text!r}: compare with a number or rated.KEY [* F]") from None
    return Condition(channel, op, value)
