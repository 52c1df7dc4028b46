"""Fault kinds the simulator can inject, and the view of a fault that the physics sees.

A fault kind names the asset kind it applies to (None: any kind, for sensor and device faults), the finding
a correct detector raises for it and that finding's default level (the ground truth written to
``labels.jsonl``; the names are the shared contract with the detectors and the alert engine), and the
channel its signature is in when it is one channel. Wear faults (``wear``, ``bearing_wear``) creep towards a
limit of their channel and cross it ``limit_after_s`` after their onset: before that a correct system
predicts the crossing (``*.wear_predicted``, yellow), after it the limit finding applies.

To add a fault: register it in ``FAULT_KINDS`` and teach the asset kind's ``step`` (or, for sensor and
device faults, ``simulator.sensors``) what it does while active.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facwatch.model import Asset, AssetKind, Level

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
DEFAULT_LIMIT_AFTER_S = 3 * 86_400.0
"""Without ``limit_after_s``, a wear fault crosses its limit three days after its onset."""

SENSOR_CHANNEL: Mapping[AssetKind, str] = {
    AssetKind.ELEVATOR: "vibration_rms_g",
    AssetKind.PUMP: "discharge_pressure_bar",
    AssetKind.POWER: "transformer_temp_c",
}
"""The channel a sensor fault (stuck, drift, dropout) hits when the scenario names none."""

LIMITS: Mapping[str, float] = {
    "vibration_rms_g": 0.35,
    "vibration_rms_mms": 7.1,
}
"""Alarm limits of the channels wear creeps up: the elevator rule's 0.35 g, and ISO 10816-3's 7.1 mm/s
(zone C/D) for a pump."""


@dataclass(frozen=True, slots=True)
class FaultKind:
    name: str
    asset_kind: AssetKind | None
    """The asset kind it happens to; None for sensor and device faults, which any asset can have."""
    finding: str | None
    """The finding kind a correct detector raises; None when the gateway dead-letters it instead, or when
    nothing should be raised (door-switch chatter, inspection mode)."""
    level: Level | None
    channel: str | None
    """Where the signature is, when it is one channel (sensor faults: the scenario's or SENSOR_CHANNEL)."""
    description: str
    family: str
    limit_finding: str | None = None
    """Wear faults: the finding once the channel has crossed its limit."""
    limit_level: Level | None = None

    def level_for(self, asset: Asset | None) -> Level | None:
        """The expected level on this asset: a dry-running fire pump is a safety event (red)."""
        if self.name == "dry_run" and asset is not None and is_fire_pump(asset):
            return Level.RED
        return self.level

    def channel_for(self, asset: Asset | None, chosen: str | None) -> str | None:
        if self.family == "sensor" and asset is not None:
            return chosen or SENSOR_CHANNEL[asset.kind]
        return chosen or self.channel


def is_fire_pump(asset: Asset) -> bool:
    return asset.kind is AssetKind.PUMP and (
        bool(asset.rated.get("standby", 0)) or "fire" in asset.id.lower()
    )


ELEV, PUMP, POWER = AssetKind.ELEVATOR, AssetKind.PUMP, AssetKind.POWER
RED, ORANGE, YELLOW, BLUE = Level.RED, Level.ORANGE, Level.YELLOW, Level.BLUE

FAULT_KINDS: Mapping[str, FaultKind] = {
    kind.name: kind
    for kind in (
        # name, asset kind, finding, level, channel, description, family
        FaultKind(
            "entrapment", ELEV, "elevator.entrapment", RED, None,
            "the car stops between two floors with passengers inside, doors closed; they press the alarm",
            "elevator",
        ),
        FaultKind(
            "abnormal_vibration", ELEV, "elevator.abnormal_vibration", RED, "vibration_rms_g",
            "sudden noise and vibration (a loose guide shoe, a failing sheave bearing)", "elevator",
        ),
        FaultKind(
            "wear", ELEV, "elevator.wear_predicted", YELLOW, "vibration_rms_g",
            "slow bearing/guide-shoe wear: vibration at speed creeps up and crosses 0.35 g days later",
            "elevator", "elevator.abnormal_vibration", RED,
        ),
        FaultKind(
            "door_fault", ELEV, "elevator.door_fault", ORANGE, "door_open",
            "the doors keep reopening at a landing (an obstructed or misaligned door), the car cannot leave",
            "elevator",
        ),
        FaultKind(
            "overspeed", ELEV, "elevator.overspeed", ORANGE, "speed_mps",
            "trips run about 18 % over rated speed (a drive fault; the governor trips at 115 %)", "elevator",
        ),
        FaultKind(
            "out_of_service", ELEV, "elevator.out_of_service", ORANGE, "running",
            "the car is parked at a landing with its doors closed and answers no calls", "elevator",
        ),
        FaultKind(
            "entrapment_at_landing", ELEV, "elevator.entrapment_at_landing", RED, None,
            "平层困人: the car stands at a landing but its doors do not open, someone inside; the alarm after 20 s",
            "elevator",
        ),
        FaultKind(
            "door_open_running", ELEV, "elevator.door_open_running", ORANGE, "door_open",
            "运行中开门: on its next trip the door contact opens between floors; the safety circuit stops the "
            "car there and the door stays open", "elevator",
        ),
        FaultKind(
            "moving_doors_open", ELEV, "elevator.moving_doors_open", RED, "door_open",
            "开门走车: at its next stop the car creeps away from the landing with its doors open (a slipping "
            "brake, the drive not running) until the safety gear holds it about 0.6 m away", "elevator",
        ),
        FaultKind(
            "stopped_outside_door_zone", ELEV, "elevator.stopped_outside_door_zone", ORANGE, "in_door_zone",
            "门区外停梯: once its riders are out, the car sets off empty and stops between floors, doors closed",
            "elevator",
        ),
        FaultKind(
            "overtravel_top", ELEV, "elevator.overtravel_top", ORANGE, "limit_switch",
            "冲顶: once empty, the car runs past the top landing onto the final limit switch and stays there",
            "elevator",
        ),
        FaultKind(
            "overtravel_bottom", ELEV, "elevator.overtravel_bottom", ORANGE, "limit_switch",
            "蹲底: once empty, the car runs past the bottom landing onto the final limit switch and stays there",
            "elevator",
        ),
        FaultKind(
            "door_chatter", ELEV, None, None, "door_open",
            "a worn door switch: while the car runs its door contact reads open for single samples (about one "
            "in six); not a fault of the car, so nothing is raised", "elevator",
        ),
        FaultKind(
            "inspection", ELEV, None, None, "inspection_mode",
            "检修: a technician takes the car on inspection: calls are cancelled, the car moves at 0.3 m/s and "
            "stops between floors with the technician inside; not a fault, it mutes the running-state rules",
            "elevator",
        ),
        FaultKind(
            "pipe_burst", PUMP, "pump.pipe_burst", RED, "discharge_pressure_bar",
            "a burst downstream: discharge pressure collapses while flow and motor current surge", "pump",
        ),
        FaultKind(
            "dry_run", PUMP, "pump.dry_run", ORANGE, "motor_current_a",
            "no water at the suction: current and flow drop, pressures fall to about zero", "pump",
        ),
        FaultKind(
            "cavitation", PUMP, "pump.cavitation", ORANGE, "suction_pressure_bar",
            "suction pressure too low: vibration rises and discharge pressure ripples", "pump",
        ),
        FaultKind(
            "bearing_wear", PUMP, "pump.wear_predicted", YELLOW, "vibration_rms_mms",
            "bearing wear: vibration and temperature creep up over days, crossing 7.1 mm/s",
            "pump", "pump.bearing_fault", ORANGE,
        ),
        FaultKind(
            "overheating", PUMP, "pump.overheat", ORANGE, "bearing_temp_c",
            "the motor and bearing overheat (failed lubrication or cooling): temperature climbs past 90 °C",
            "pump",
        ),
        FaultKind(
            "trip", PUMP, "pump.tripped", ORANGE, "running",
            "the pump trips; the standby takes over the header, so the pressure dips and recovers", "pump",
        ),
        FaultKind(
            "power_outage", POWER, "power.outage", RED, None,
            "the supply is lost: phase voltages and currents drop to about zero", "power",
        ),
        FaultKind(
            "phase_loss", POWER, "power.phase_loss", RED, None,
            "one phase (L3 unless severity picks another) is lost: its voltage and current drop to zero",
            "power",
        ),
        FaultKind(
            "voltage_sag", POWER, "power.voltage_sag", ORANGE, None,
            "all three phase voltages drop about 20 % below nominal", "power",
        ),
        FaultKind(
            "voltage_swell", POWER, "power.voltage_swell", ORANGE, None,
            "all three phase voltages rise about 12 % above nominal", "power",
        ),
        FaultKind(
            "overload", POWER, "power.overload", ORANGE, None,
            "the load rises to about 120 % of the panel's rated current; the transformer heats", "power",
        ),
        FaultKind(
            "transformer_overheat", POWER, "power.transformer_overheat", ORANGE, "transformer_temp_c",
            "the transformer's cooling fails: its temperature climbs about 55 °C above normal", "power",
        ),
        FaultKind(
            "stuck", None, "sensor.stuck", BLUE, None,
            "a sensor repeats its last value exactly", "sensor",
        ),
        FaultKind(
            "drift", None, "sensor.drift", BLUE, None,
            "a sensor's reading drifts away from the truth, a few percent of its span per hour", "sensor",
        ),
        FaultKind(
            "dropout", None, "sensor.dropout", BLUE, None,
            "a sensor stops reporting: its channel is missing from the device's messages", "sensor",
        ),
        FaultKind(
            "device_offline", None, "device.offline", BLUE, None,
            "the device drops off the network (its MQTT last will fires) and sends nothing", "device",
        ),
        FaultKind(
            "clock_skew", None, None, None, None,
            "the device's clock is off by severity × 2 hours: the gateway dead-letters its readings",
            "device",
        ),
        FaultKind(
            "malformed_burst", None, None, None, None,
            "the device sends bursts of malformed payloads (not JSON, wrong types, NaN) besides its data",
            "device",
        ),
    )
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ActiveFault:
    """A fault in force on one asset at one step: its kind, the seconds since its onset, and its knobs."""

    kind: str
    elapsed_s: float
    severity: float = 1.0
    channel: str | None = None
    limit_after_s: float = DEFAULT_LIMIT_AFTER_S

    @property
    def wear(self) -> float:
        """A wear fault's progress: 0 at onset, 1 when its channel reaches the limit, growing on after."""
        return (self.elapsed_s / self.limit_after_s) ** 2


def active(faults: Sequence[ActiveFault], kind: str) -> ActiveFault | None:
    """The fault of this kind among the active ones, if any."""
    for fault in faults:
        if fault.kind == kind:
            return fault
    return None


def ramp(fault: ActiveFault | None, seconds: float) -> float:
    """0 before a fault, rising linearly to 1 over its first ``seconds``."""
    if fault is None:
        return 0.0
    return min(1.0, fault.elapsed_s / seconds) if seconds > 0 else 1.0


@dataclass(frozen=True, slots=True)
class FaultTrack:
    """A fault over a block of steps: seconds since its onset at each step, NaN where it is not in force.

    What ``ActiveFault`` is to one step, this is to a block; the vectorised physics (``block``) reads it.
    """

    kind: str
    elapsed: Array
    severity: float = 1.0
    channel: str | None = None
    limit_after_s: float = DEFAULT_LIMIT_AFTER_S

    @property
    def on(self) -> Mask:
        return ~np.isnan(self.elapsed)

    def ramp(self, seconds: float) -> Array:
        """0 where the fault is not in force, rising to 1 over its first ``seconds``."""
        e = np.nan_to_num(self.elapsed, nan=0.0)
        k = np.minimum(1.0, e / seconds) if seconds > 0 else np.ones_like(e)
        return np.where(self.on, k, 0.0)

    @property
    def wear(self) -> Array:
        """Wear progress (``ActiveFault.wear``), 0 where the fault is not in force."""
        e = np.nan_to_num(self.elapsed, nan=0.0)
        return np.where(self.on, (e / self.limit_after_s) ** 2, 0.0)

    def at(self, k: int) -> ActiveFault | None:
        """The fault at step ``k`` of the block, as ``step`` sees it."""
        e = float(self.elapsed[k])
        if math.isnan(e):
            return None
        return ActiveFault(self.kind, e, self.severity, self.channel, self.limit_after_s)


def tracks_of(faults: Sequence[ActiveFault]) -> tuple[FaultTrack, ...]:
    """One step's active faults as tracks of length 1 (``step`` is ``block`` over one step)."""
    return tuple(
        FaultTrack(f.kind, np.array([f.elapsed_s]), f.severity, f.channel, f.limit_after_s) for f in faults
    )


def track(tracks: Sequence[FaultTrack], kind: str) -> FaultTrack | None:
    """The track of this kind, if the block has one."""
    for t in tracks:
        if t.kind == kind:
            return t
    return None
