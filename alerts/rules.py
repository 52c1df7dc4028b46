"""Rules: readings of an asset in, findings out (pure; event time only).

Readings of one asset arrive as one ``Reading`` per channel with the same ``ts_ms``; the rules fuse the
latest value of every channel per asset, and judge each asset once per timestamp. Every rule keeps a
``ThresholdDetector`` on a number derived from the fused values, so the minimum duration and hysteresis
work the same way everywhere. A finding is emitted when a condition starts (``active=True``) and when
it clears (``active=False``), never for every reading in between.

Rules per asset kind:
- elevator ``elevator.entrapment`` (RED): the car stands still outside the door zone with its doors
  closed and someone inside (load above ``ENTRAPMENT_LOAD_KG``) for ``ENTRAPMENT_HOLD_S``; or, at once,
  the alarm button is pressed while the car stands still outside the door zone.
- a threshold table (``THRESHOLDS``): pump discharge pressure below 20 % of rated while running
  (``pump.pipe_burst``, RED), all three phase voltages below 50 V (``power.outage``, RED), elevator
  vibration high (``elevator.vibration``, ORANGE).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from alerts.detectors import ThresholdDetector
from facwatch.model import Asset, AssetKind, Finding, Level, Reading, Site

ENTRAPMENT_KIND = "elevator.entrapment"
ENTRAPMENT_LOAD_KG = 20.0
ENTRAPMENT_HOLD_S = 4.0
STILL_MPS = 0.05

Values = Mapping[str, float]


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One rule: a number derived from the fused values of an asset, judged by a threshold detector."""

    kind: str
    asset_kind: AssetKind
    level: Level
    summary: str
    signal: Callable[[Asset, Values], float | None]
    """The number the detector watches; None when the channels it needs have not been seen yet."""
    detector: Callable[[Asset], ThresholdDetector]
    channel: str | None = None


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
    rated = asset.rated.get("pressure_bar")
    if not rated or "discharge_pressure_bar" not in values or not _flag(values, "running", True):
        return None
    return values["discharge_pressure_bar"] / rated


def max_phase_voltage(_asset: Asset, values: Values) -> float | None:
    phases = [values.get(f"voltage_l{i}_v") for i in (1, 2, 3)]
    return None if any(v is None for v in phases) else max(v for v in phases if v is not None)


def _channel(name: str) -> Callable[[Asset, Values], float | None]:
    return lambda _asset, values: values.get(name)


ENTRAPMENT_SUMMARY = "Passenger trapped: car stopped between floors with doors closed"

RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        ENTRAPMENT_KIND,
        AssetKind.ELEVATOR,
        Level.RED,
        ENTRAPMENT_SUMMARY,
        entrapment_signal,
        lambda _a: ThresholdDetector(above=0.5, min_duration_s=ENTRAPMENT_HOLD_S),
    ),
    RuleSpec(
        ENTRAPMENT_KIND,
        AssetKind.ELEVATOR,
        Level.RED,
        "Alarm button pressed in a car stopped between floors",
        alarm_signal,
        lambda _a: ThresholdDetector(above=0.5),
        channel="alarm_button",
    ),
    RuleSpec(
        "elevator.vibration",
        AssetKind.ELEVATOR,
        Level.ORANGE,
        "Car vibration abnormally high",
        _channel("vibration_rms_g"),
        lambda _a: ThresholdDetector(above=0.35, hysteresis=0.1, min_duration_s=5),
        channel="vibration_rms_g",
    ),
    RuleSpec(
        "pump.pipe_burst",
        AssetKind.PUMP,
        Level.RED,
        "Discharge pressure collapsed below 20 % of rated while running: suspected pipe burst",
        pressure_ratio,
        lambda _a: ThresholdDetector(below=0.2, hysteresis=0.1, min_duration_s=3),
        channel="discharge_pressure_bar",
    ),
    RuleSpec(
        "power.outage",
        AssetKind.POWER,
        Level.RED,
        "Power failure: all three phase voltages below 50 V",
        max_phase_voltage,
        lambda _a: ThresholdDetector(below=50.0, hysteresis=20.0, min_duration_s=2),
    ),
)


class Rules:
    """The rule state of one site: fused latest values and one detector per (asset, rule)."""

    def __init__(self, site: Site, rules: Sequence[RuleSpec] = RULES) -> None:
        self.site = site
        self.rules = tuple(rules)
        self._values: dict[str, dict[str, float]] = defaultdict(dict)
        self._detectors: dict[tuple[str, int], ThresholdDetector] = {}
        self._active: dict[tuple[str, str], set[int]] = defaultdict(set)
        """Which rules of a finding kind are active on an asset: a kind clears when none is."""

    def observe(self, readings: Iterable[Reading]) -> list[Finding]:
        """Findings that start or clear with these readings, in event-time order."""
        groups: dict[tuple[int, str], list[Reading]] = defaultdict(list)
        for reading in readings:
            if reading.site == self.site.id:
                groups[(reading.ts_ms, reading.asset)].append(reading)
        findings: list[Finding] = []
        for ts_ms, asset_id in sorted(groups):
            asset = self.site.asset(asset_id)
            if asset is None:
                continue
            values = self._values[asset_id]
            for reading in groups[(ts_ms, asset_id)]:
                values[reading.channel] = reading.value
            findings.extend(self._judge(asset, values, ts_ms))
        return findings

    def _judge(self, asset: Asset, values: Values, ts_ms: int) -> list[Finding]:
        out: list[Finding] = []
        for index, rule in enumerate(self.rules):
            if rule.asset_kind is not asset.kind:
                continue
            signal = rule.signal(asset, values)
            if signal is None:
                continue
            key = (asset.id, index)
            detector = self._detectors.get(key)
            if detector is None:
                detector = self._detectors[key] = rule.detector(asset)
            detector.learn_one(signal, ts_ms)
            active_rules = self._active[(asset.id, rule.kind)]
            was_active = bool(active_rules)
            if detector.active:
                active_rules.add(index)
            else:
                active_rules.discard(index)
            if bool(active_rules) != was_active:
                out.append(self._finding(asset, rule, ts_ms, bool(active_rules), values, signal))
        return out

    def _finding(
        self, asset: Asset, rule: RuleSpec, ts_ms: int, active: bool, values: Values, signal: float
    ) -> Finding:
        summary = rule.summary if active else f"Cleared: {rule.summary[0].lower()}{rule.summary[1:]}"
        return Finding(
            site=self.site.id,
            asset=asset.id,
            kind=rule.kind,
            ts_ms=ts_ms,
            active=active,
            level=rule.level,
            summary=summary,
            channel=rule.channel,
            value=values.get(rule.channel) if rule.channel else signal,
            detail={k: v for k, v in values.items()},
        )
