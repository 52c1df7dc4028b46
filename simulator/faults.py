"""Fault kinds the simulator can inject, and the view of a fault that the physics sees.

A fault kind names the asset kind it applies to and the alert level a correct system raises for it (the
ground truth written to ``labels.jsonl``). To add a fault: register it in ``FAULT_KINDS`` and teach the
asset kind's ``step`` what it does while active (``ActiveFault.elapsed_s`` says for how long it has been).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from facwatch.model import AssetKind, Level


@dataclass(frozen=True, slots=True)
class FaultKind:
    name: str
    asset_kind: AssetKind
    level: Level
    description: str


FAULT_KINDS: Mapping[str, FaultKind] = {
    kind.name: kind
    for kind in (
        FaultKind(
            "entrapment",
            AssetKind.ELEVATOR,
            Level.RED,
            "the car stops between two floors with passengers inside, doors closed; they press the alarm",
        ),
        FaultKind(
            "pipe_burst",
            AssetKind.PUMP,
            Level.RED,
            "a burst downstream: discharge pressure collapses while flow and motor current surge",
        ),
        FaultKind(
            "power_outage",
            AssetKind.POWER,
            Level.RED,
            "the supply is lost: phase voltages and currents drop to about zero",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class ActiveFault:
    """A fault in force on one asset at one step: its kind and the seconds since its onset."""

    kind: str
    elapsed_s: float


def active(faults: Sequence[ActiveFault], kind: str) -> ActiveFault | None:
    """The fault of this kind among the active ones, if any."""
    for fault in faults:
        if fault.kind == kind:
            return fault
    return None
