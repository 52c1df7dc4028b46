"""Composite signals: the fused latest values of an asset in, one number out (pure).

A watch of a profile names a channel or one of these (``SIGNALS``); each returns None while a channel it
needs has not been seen (or the asset lacks a rated value), so the watch neither scores nor learns. The
reasoning behind each is in docs/detectors.md and in the docstring of alerts/detection/rules.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from facwatch.model import Asset

ENTRAPMENT_LOAD_KG = 20.0
ENTRAPMENT_HOLD_S = 4.0
STILL_MPS = 0.05
BURST_PRESSURE = 0.5
BURST_FLOW = 1.2
CAVITATION_SUCTION_BAR = 0.5

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


def _inspection(values: Values) -> bool:
    """A technician has the car on inspection (检修): the running-state rules are muted (they read 0)."""
    return _flag(values, "inspection_mode")


def _still(values: Values) -> bool | None:
    if "speed_mps" not in values and "running" not in values:
        return None
    speed = values.get("speed_mps")
    return abs(speed) < STILL_MPS if speed is not None else not _flag(values, "running")


def entrapment_signal(_asset: Asset, values: Values) -> float | None:
    """1.0 while the car holds someone between floors with closed doors (非平层困人); 0.0 otherwise."""
    stuck = _stopped_outside_door_zone(values)
    if stuck is None or "load_kg" not in values:
        return None
    closed = not _flag(values, "door_open")
    trapped = stuck and closed and values["load_kg"] > ENTRAPMENT_LOAD_KG
    return 1.0 if trapped and not _inspection(values) else 0.0


def alarm_signal(_asset: Asset, values: Values) -> float | None:
    """1.0 while the alarm button is pressed in a car that stands still outside the door zone."""
    stuck = _stopped_outside_door_zone(values)
    if stuck is None or "alarm_button" not in values:
        return None
    return 1.0 if stuck and _flag(values, "alarm_button") and not _inspection(values) else 0.0


def landing_entrapment_signal(_asset: Asset, values: Values) -> float | None:
    """1.0 while the car stands at a landing (in the door zone), doors closed, drive off, someone inside
    (平层困人); the rule's delay tells a trapped passenger from one about to press a button."""
    still = _still(values)
    if still is None or "in_door_zone" not in values or "load_kg" not in values:
        return None
    at_landing = still and _flag(values, "in_door_zone") and not _flag(values, "running")
    closed = not _flag(values, "door_open")
    trapped = at_landing and closed and values["load_kg"] > ENTRAPMENT_LOAD_KG
    return 1.0 if trapped and not _inspection(values) else 0.0


def landing_alarm_signal(asset: Asset, values: Values) -> float | None:
    """1.0 while the alarm button is pressed in a car that holds someone at a landing with its doors closed
    and its drive off (平层困人 the passenger reports: no reason to wait the minute)."""
    trapped = landing_entrapment_signal(asset, values)
    if trapped is None or "alarm_button" not in values:
        return None
    return 1.0 if trapped == 1.0 and _flag(values, "alarm_button") else 0.0


def door_open_running_signal(_asset: Asset, values: Values) -> float | None:
    """1.0 while the door contact reads open in a running car, or in a car standing outside the door zone
    (where the safety circuit stops a car whose door opened: 运行中开门); chatter is one sample at a time."""
    still = _still(values)
    if still is None or "door_open" not in values or "in_door_zone" not in values:
        return None
    where = _flag(values, "running") or (still and not _flag(values, "in_door_zone"))
    return 1.0 if where and _flag(values, "door_open") and not _inspection(values) else 0.0


def moving_doors_open_signal(_asset: Asset, values: Values) -> float | None:
    """1.0 while the car moves with its doors open and its drive off (开门走车: unintended car movement —
    a slipping brake); 0.0 otherwise. A run the drive commands with doors open is 运行中开门."""
    if "speed_mps" not in values or "door_open" not in values or "running" not in values:
        return None
    moving = abs(values["speed_mps"]) >= STILL_MPS and not _flag(values, "running")
    return 1.0 if moving and _flag(values, "door_open") and not _inspection(values) else 0.0


def stopped_outside_signal(_asset: Asset, values: Values) -> float | None:
    """1.0 while an empty car (no load over ``ENTRAPMENT_LOAD_KG``: with someone inside it is an
    entrapment) stands outside the door zone with its doors closed (门区外停梯), not on a final limit
    switch (that is overtravel)."""
    stuck = _stopped_outside_door_zone(values)
    if stuck is None or "load_kg" not in values:
        return None
    empty = values["load_kg"] <= ENTRAPMENT_LOAD_KG and not _flag(values, "door_open")
    ordinary = not _inspection(values) and not _flag(values, "limit_switch")  # on the limit: overtravel
    return 1.0 if stuck and empty and ordinary else 0.0


def _overtravel(values: Values, top: bool) -> float | None:
    if "limit_switch" not in values or "floor" not in values:
        return None
    end = values["floor"] > 1.5 if top else values["floor"] <= 1.5
    return 1.0 if _flag(values, "limit_switch") and end and not _inspection(values) else 0.0


def service_floor(_asset: Asset, values: Values) -> float | None:
    """The floor, except on inspection (None: the out-of-service watch is gated off while a technician has
    the car, and starts a new count afterwards)."""
    return None if _inspection(values) else values.get("floor")


def overtravel_top_signal(_asset: Asset, values: Values) -> float | None:
    """1.0 while the final limit switch is open at the top of the shaft (冲顶)."""
    return _overtravel(values, top=True)


def overtravel_bottom_signal(_asset: Asset, values: Values) -> float | None:
    """1.0 while the final limit switch is open at the bottom of the shaft (蹲底)."""
    return _overtravel(values, top=False)


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
    """The door flag while the car stands still; -1 while it moves or is on inspection (a new stop starts a
    new count)."""
    if "door_open" not in values or "running" not in values:
        return None
    if _flag(values, "running") or _inspection(values):
        return -1.0
    return float(_flag(values, "door_open"))


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
    "landing_entrapment": landing_entrapment_signal,
    "landing_alarm": landing_alarm_signal,
    "door_open_running": door_open_running_signal,
    "moving_doors_open": moving_doors_open_signal,
    "stopped_outside_door_zone": stopped_outside_signal,
    "overtravel_top": overtravel_top_signal,
    "overtravel_bottom": overtravel_bottom_signal,
    "service_floor": service_floor,
    "pressure_ratio": pressure_ratio,
    "dry_run": dry_run_signal,
    "max_phase_voltage": max_phase_voltage,
    "min_phase_voltage": min_phase_voltage,
    "mean_phase_voltage": mean_phase_voltage,
    "phase_loss": phase_loss_signal,
    "max_phase_current": max_phase_current,
}
