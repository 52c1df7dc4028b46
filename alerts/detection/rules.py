"""Rules: readings of an asset in, findings out (pure; event time only).

Readings of one asset arrive as one ``Reading`` per channel with the same ``ts_ms``; the rules fuse the
latest value of every channel per asset and judge each asset once per timestamp against its profile
(alerts/detection/profile.py; the shipped ones in alerts/detection/profiles/). Every watch of the profile turns the
fused values into a signal (a channel, or a composite signal from ``SIGNALS`` below), feeds it to its
detector (score first, then learn — and a scoring detector does not learn while its own decision is
active, so a fault is not learned as the new normal) and decides with hysteresis and a minimum
duration. A finding is emitted when a condition starts (``active=True``) and when it clears
(``active=False``), never for every reading in between; several watches may raise the same finding kind
(an entrapment by load or by the alarm button): it starts with the first and clears with the last.

The composite signals and their reasoning are in docs/detectors.md; in short:
- ``entrapment``: the car stands still outside the door zone, doors closed, someone inside (load above
  ``ENTRAPMENT_LOAD_KG``); RED after ``ENTRAPMENT_HOLD_S``. ``alarm_entrapment``: the alarm button in a
  car stopped outside the door zone — RED at once.
- ``burst``: a running pump's discharge pressure under half of rated while its flow surges past 120 %.
- ``dry_run``: a running pump drawing well under its rated current with almost no flow.
- ``cavitation``: suction pressure under 0.5 bar while water still moves.
- ``tripped``: a duty pump (not a standby one) that is not running.
- ``door_idle``: the door flag while the car stands still (-1 while it moves: a new stop, a new count).
- ``phase_loss``: the lowest phase voltage while at least one other phase is healthy; ``supply_voltage``:
  the mean phase voltage while every phase is live (sag and swell).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.detection import AdaptiveBaseline, Cusum, PageHinkley, PCADetector, SpectralDetector
from alerts.detection.profile import Profile, Watch, load_profile
from facwatch.errors import ConfigError
from facwatch.model import MACHINE_KINDS, Asset, AssetKind, Finding, Level, Reading, Site

ENTRAPMENT_KIND = "elevator.entrapment"
ENTRAPMENT_LOAD_KG = 20.0
ENTRAPMENT_HOLD_S = 4.0
STILL_MPS = 0.05
DROPOUT_KIND = "sensor.dropout"
LOCAL_HOUR = "local_hour"
"""A pseudo-channel every asset has: the site's local hour of the day, for ``when`` conditions."""
BURST_PRESSURE = 0.5
BURST_FLOW = 1.2
CAVITATION_SUCTION_BAR = 0.5

LEARNS_NORMAL = (AdaptiveBaseline, Cusum, PageHinkley, PCADetector, SpectralDetector)
"""Detectors that learn what normal is: they do not learn while their own decision says abnormal."""

Values = Mapping[str, float]
Signal = Callable[[Asset, Values], float | None]


def _flag(values: Values, channel: str, default: bool = False) -> bool:
    value = values.get(channel)
    return default if value is None else value >= 0.5


def _stopped_outside_door_zone(values: Values) -> bool | None:
    if "in_door_zone" not in values or ("speed_mps" not in values and "running" not in values):
        return None
    speed = values.get("speed_mps")
    still = abs(speed) < STILL_MPS if speed is not None else not _flag(values, "running")
    return still and not _flag(values, "in_door_zone")


def entrapment_signal(_asset: Asset, values: Values) -> float | None:
    """1.0 while the car holds someone between floors with closed doors; 0.0 otherwise."""
    stuck = _stopped_outside_door_zone(values)
    if stuck is None or "load_kg" not in values:
        return None
    closed = not _flag(values, "door_open")
    return 1.0 if stuck and closed and values["load_kg"] > ENTRAPMENT_LOAD_KG else 0.0


def alarm_signal(_asset: Asset, values: Values) -> float | None:
    """1.0 while the alarm button is pressed in a car that stands still outside the door zone."""
    stuck = _stopped_outside_door_zone(values)
    if stuck is None or "alarm_button" not in values:
        return None
    return 1.0 if stuck and _flag(values, "alarm_button") else 0.0


def pressure_ratio(asset: Asset, values: Values) -> float | None:
    """Discharge pressure as a fraction of rated, while the pump runs (None when stopped or unknown)."""
    rated = asset.rated.get("pressure_bar")
    if not rated or "discharge_pressure_bar" not in values or not _flag(values, "running", True):
        return None
    return values["discharge_pressure_bar"] / rated


def dry_run_signal(asset: Asset, values: Values) -> float | None:
    """1.0 while a running pump draws under 45 % of rated current with under 10 % of rated flow."""
    current, flow = asset.rated.get("current_a"), asset.rated.get("flow_m3h")
    if not current or not flow or "motor_current_a" not in values or "flow_m3h" not in values:
        return None
    if not _flag(values, "running", True):
        return 0.0
    return 1.0 if values["motor_current_a"] < 0.45 * current and values["flow_m3h"] < 0.1 * flow else 0.0


def max_phase_voltage(_asset: Asset, values: Values) -> float | None:
    phases = [values.get(f"voltage_l{i}_v") for i in (1, 2, 3)]
    return None if any(v is None for v in phases) else max(v for v in phases if v is not None)


def min_phase_voltage(_asset: Asset, values: Values) -> float | None:
    phases = [values.get(f"voltage_l{i}_v") for i in (1, 2, 3)]
    return None if any(v is None for v in phases) else min(v for v in phases if v is not None)


def mean_phase_voltage(_asset: Asset, values: Values) -> float | None:
    phases = [values.get(f"voltage_l{i}_v") for i in (1, 2, 3)]
    return None if any(v is None for v in phases) else sum(v for v in phases if v is not None) / 3


def phase_loss_signal(_asset: Asset, values: Values) -> float | None:
    """The lowest phase voltage while another phase is healthy (above 150 V); None in a full outage."""
    low, high = min_phase_voltage(_asset, values), max_phase_voltage(_asset, values)
    if low is None or high is None:
        return None
    return low if high > 150.0 else None


def max_phase_current(_asset: Asset, values: Values) -> float | None:
    phases = [values.get(f"current_l{i}_a") for i in (1, 2, 3)]
    return None if any(v is None for v in phases) else max(v for v in phases if v is not None)


def burst_signal(asset: Asset, values: Values) -> float | None:
    """1.0 while a running pump's discharge pressure is under half of rated and its flow surges past
    120 % of rated (a burst runs the pump out on its curve); without a flow channel, pressure under 30 %."""
    ratio = pressure_ratio(asset, values)
    if ratio is None:
        return None
    rated_flow, flow = asset.rated.get("flow_m3h"), values.get("flow_m3h")
    if rated_flow and flow is not None:
        return 1.0 if ratio < BURST_PRESSURE and flow > BURST_FLOW * rated_flow else 0.0
    return 1.0 if ratio < 0.3 else 0.0


def cavitation_signal(asset: Asset, values: Values) -> float | None:
    """1.0 while a running pump's suction pressure is under ``CAVITATION_SUCTION_BAR`` with real flow (at
    least 20 % of rated; a dry pump has low suction and no flow, which is the dry-run rule)."""
    rated_flow = asset.rated.get("flow_m3h")
    if not rated_flow or "suction_pressure_bar" not in values or "flow_m3h" not in values:
        return None
    if not _flag(values, "running", True):
        return 0.0
    low = values["suction_pressure_bar"] < CAVITATION_SUCTION_BAR
    return 1.0 if low and values["flow_m3h"] >= 0.2 * rated_flow else 0.0


def tripped_signal(asset: Asset, values: Values) -> float | None:
    """1.0 while a duty pump (not a standby one, which is stopped by design) is not running."""
    if "running" not in values or bool(asset.rated.get("standby", 0)) or "fire" in asset.id.lower():
        return None
    return 0.0 if _flag(values, "running") else 1.0


def door_idle_signal(_asset: Asset, values: Values) -> float | None:
    """The door flag while the car stands still; -1 while it moves (a new stop starts a new count)."""
    if "door_open" not in values or "running" not in values:
        return None
    return -1.0 if _flag(values, "running") else float(_flag(values, "door_open"))


def supply_voltage(asset: Asset, values: Values) -> float | None:
    """The mean phase voltage while every phase is live (above 100 V): sag and swell, not loss or outage."""
    low, mean = min_phase_voltage(asset, values), mean_phase_voltage(asset, values)
    if low is None or mean is None or low < 100.0:
        return None
    return mean


SIGNALS: Mapping[str, Signal] = {
    "burst": burst_signal,
    "cavitation": cavitation_signal,
    "tripped": tripped_signal,
    "door_idle": door_idle_signal,
    "supply_voltage": supply_voltage,
    "entrapment": entrapment_signal,
    "alarm_entrapment": alarm_signal,
    "pressure_ratio": pressure_ratio,
    "dry_run": dry_run_signal,
    "max_phase_voltage": max_phase_voltage,
    "min_phase_voltage": min_phase_voltage,
    "mean_phase_voltage": mean_phase_voltage,
    "phase_loss": phase_loss_signal,
    "max_phase_current": max_phase_current,
}


def default_profiles() -> dict[AssetKind, Profile]:
    return {kind: load_profile(kind.value) for kind in MACHINE_KINDS}


@dataclass
class _WatchState:
    detector: Any
    decision: Any
    """A ThresholdDetector on the detector's score, or None when the detector decides by itself."""

    @property
    def active(self) -> bool:
        return bool((self.decision or self.detector).active)


@dataclass
class _AssetState:
    values: dict[str, float] = field(default_factory=dict)
    seen_ms: dict[str, int] = field(default_factory=dict)
    watches: dict[int, _WatchState | None] = field(default_factory=dict)
    active: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    """Which watches of a finding kind are active: a kind clears when none is."""


class Rules:
    """The detector state of one site: fused latest values and one detector per (asset, watch)."""

    def __init__(
        self,
        site: Site,
        profiles: Mapping[AssetKind, Profile] | None = None,
        asset_profiles: Mapping[str, Profile] | None = None,
    ) -> None:
        """``profiles`` per asset kind (default: the shipped ones); ``asset_profiles`` override per asset id,
        as does an asset's own ``profile`` in the site file (loaded here, so a bad one fails at start-up)."""
        self.site = site
        self.profiles = dict(profiles) if profiles is not None else default_profiles()
        self.asset_profiles = dict(asset_profiles or {})
        loaded: dict[str, Profile] = {}
        for asset in site.assets:
            if asset.profile and asset.id not in self.asset_profiles:
                if asset.profile not in loaded:
                    loaded[asset.profile] = load_profile(asset.profile)
                profile = loaded[asset.profile]
                if profile.kind is not asset.kind:
                    raise ConfigError(f"asset {asset.id}: profile {asset.profile!r} is for a {profile.kind}")
                self.asset_profiles[asset.id] = profile
        self._assets: dict[str, _AssetState] = defaultdict(_AssetState)
        self._zone = ZoneInfo(site.timezone)
        self._offset_hour = -1
        self._offset_ms = 0
        for asset in site.assets:  # build every detector now: a bad parameter fails at start-up
            chosen = self.profile_of(asset)
            for index, watch in enumerate(chosen.watches if chosen else ()):
                self._assets[asset.id].watches[index] = self._build(asset, watch, index)

    def profile_of(self, asset: Asset) -> Profile | None:
        return self.asset_profiles.get(asset.id) or self.profiles.get(asset.kind)

    def observe(self, readings: Iterable[Reading]) -> list[Finding]:
        """Findings that start or clear with these readings, in event-time order."""
        groups: dict[tuple[int, str], list[Reading]] = defaultdict(list)
        for reading in readings:
            if reading.site == self.site.id:
                groups[(reading.ts_ms, reading.asset)].append(reading)
        findings: list[Finding] = []
        for ts_ms, asset_id in sorted(groups):
            asset = self.site.asset(asset_id)
            profile = self.profile_of(asset) if asset is not None else None
            if asset is None or profile is None:
                continue
            state = self._assets[asset_id]
            for reading in groups[(ts_ms, asset_id)]:
                state.values[reading.channel] = reading.value
                state.seen_ms[reading.channel] = ts_ms
            state.values[LOCAL_HOUR] = self._local_hour(ts_ms)
            findings.extend(self._judge(asset, profile, state, ts_ms))
            findings.extend(self._dropouts(asset, profile, state, ts_ms))
        return findings

    def _local_hour(self, ts_ms: int) -> float:
        """The hour of the day (0-24, fractional) at the site, for watches that hold only by day."""
        hour_key = ts_ms // 3_600_000
        if hour_key != self._offset_hour:
            offset = datetime.fromtimestamp(ts_ms / 1000, self._zone).utcoffset()
            self._offset_ms = int(offset.total_seconds() * 1000) if offset is not None else 0
            self._offset_hour = hour_key
        return ((ts_ms + self._offset_ms) % 86_400_000) / 3_600_000

    def _judge(self, asset: Asset, profile: Profile, state: _AssetState, ts_ms: int) -> list[Finding]:
        out: list[Finding] = []
        values = state.values
        for index, watch in enumerate(profile.watches):
            if not all(c.holds(asset, values) for c in watch.when):
                continue
            signal = self._signal(watch, asset, values)
            if signal is None:
                continue
            ws = state.watches.get(index)
            if ws is None:
                continue  # the asset lacks a rated value this watch needs
            self._step(ws, signal, ts_ms)
            active_set = state.active[watch.finding]
            was_active = bool(active_set)
            if ws.active:
                active_set.add(index)
            else:
                active_set.discard(index)
            if bool(active_set) != was_active:
                out.append(self._finding(asset, watch, ts_ms, bool(active_set), values, signal, ws))
        return out

    @staticmethod
    def _build(asset: Asset, watch: Watch, index: int) -> _WatchState | None:
        """The watch's detector for this asset; None when the asset lacks a rated value the watch needs."""
        try:
            detector = watch.build(asset)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"asset {asset.id}: watch {index + 1} ({watch.finding}): {exc}") from exc
        return None if detector is None else _WatchState(detector, watch.decision())

    @staticmethod
    def _signal(watch: Watch, asset: Asset, values: Values) -> Any:
        if isinstance(watch.signal, tuple):
            if not all(c in values for c in watch.signal):
                return None
            return [values[c] for c in watch.signal]
        composite = SIGNALS.get(watch.signal)
        return composite(asset, values) if composite is not None else values.get(watch.signal)

    @staticmethod
    def _step(ws: _WatchState, signal: Any, ts_ms: int) -> None:
        if ws.decision is None:
            ws.detector.learn_one(signal, ts_ms)
            return
        score = ws.detector.score_one(signal, ts_ms)
        if score is not None:
            ws.decision.learn_one(score, ts_ms)
        if not ws.decision.active or not isinstance(ws.detector, LEARNS_NORMAL):
            ws.detector.learn_one(signal, ts_ms)

    def _dropouts(self, asset: Asset, profile: Profile, state: _AssetState, ts_ms: int) -> list[Finding]:
        """A profile channel silent for ``dropout_after_s`` while the asset reports others."""
        if profile.dropout_after_s is None:
            return []
        out: list[Finding] = []
        for channel in profile.dropout_channels:
            seen = state.seen_ms.get(channel)
            if seen is None:
                continue
            key = f"{DROPOUT_KIND}:{channel}"
            silent = (ts_ms - seen) / 1000 >= profile.dropout_after_s
            was = bool(state.active[key])
            if silent != was:
                state.active[key] = {0} if silent else set()
                summary = f"Sensor dropout: no {channel} for {profile.dropout_after_s:.0f} s"
                out.append(
                    Finding(
                        site=self.site.id,
                        asset=asset.id,
                        kind=DROPOUT_KIND,
                        ts_ms=ts_ms,
                        active=silent,
                        level=Level.BLUE,
                        summary=summary if silent else f"Cleared: {summary[0].lower()}{summary[1:]}",
                        channel=channel,
                        value=None,
                        detail={"last_seen_ms": float(seen)},
                    )
                )
        return out

    def _finding(
        self,
        asset: Asset,
        watch: Watch,
        ts_ms: int,
        active: bool,
        values: Values,
        signal: Any,
        ws: _WatchState,
    ) -> Finding:
        summary = watch.summary if active else f"Cleared: {watch.summary[0].lower()}{watch.summary[1:]}"
        channel = watch.channel if watch.channel in values else None
        detail: dict[str, Any] = {k: v for k, v in values.items()}
        prediction = getattr(ws.detector, "prediction", None)
        if active and prediction is not None:
            detail.update(
                predicted_at_ms=prediction.predicted_at_ms,
                channel=watch.channel,
                limit=prediction.limit,
                slope_per_day=prediction.slope_per_day,
                level=prediction.level,
            )
            summary = f"{watch.summary}: {watch.channel} predicted to reach {prediction.limit:g}"
        value = values.get(channel) if channel else signal if isinstance(signal, float) else None
        return Finding(
            site=self.site.id,
            asset=asset.id,
            kind=watch.finding,
            ts_ms=ts_ms,
            active=active,
            level=watch.level_for(asset),
            summary=summary,
            channel=channel,
            value=value,
            detail=detail,
        )
