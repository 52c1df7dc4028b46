"""One asset in a simulation: its physics run block by block, then its instruments, then its wire.

A block is ``BLOCK_STEPS`` consecutive steps, always aligned the same way from the start of the run, so
that the random draws of a block do not depend on faults elsewhere in time or on how the run is consumed
(tick by tick for MQTT, block by block for files). Per block:

1. the faults of the scenario in force during the block become ``FaultTrack``s;
2. the model's ``block`` gives the true readings (machine faults included);
3. ``sensors`` adds the instruments' calibration errors and the sensor faults (stuck, drift, dropout);
4. device faults say how each reading reaches the wire (``WIRE``) and shift timestamps (clock skew).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from facwatch.model import STANDARD_CHANNELS, Asset
from simulator.faults import FAULT_KINDS, SENSOR_CHANNEL, Array, FaultTrack
from simulator.scenario import ScheduledFault
from simulator.sensors import calibrate, calibration, sensor_faults

S = TypeVar("S")
Block = Callable[[S, float, tuple[FaultTrack, ...], np.random.Generator, Array], tuple[S, dict[str, Array]]]
Values = dict[str, float | bool]

BLOCK_STEPS = 3600
SKEW_MS = 7_200_000
"""A clock_skew of severity 1 puts the device's clock two hours ahead."""
WIRE = ("", "offline", "malformed")
"""Codes of ``Blocked.wire``: sent, not sent (the device is off the network), sent with a malformed burst."""


class Blocked:
    """One block of one asset: columns of readings, the wire codes and the clock skew of each step."""

    def __init__(
        self, first: int, cols: dict[str, Array], wire: npt.NDArray[np.int8], skew: npt.NDArray[np.int64]
    ):
        self.first = first
        self.cols = cols
        self.wire = wire
        self.skew = skew
        self._lists: list[tuple[str, bool, list[float]]] | None = None

    def values(self, i: int, channels: dict[str, bool]) -> Values:
        """Row ``i`` of the block as a device's values (a dropped-out channel is left out)."""
        if self._lists is None:
            self._lists = [(ch, is_bool, self.cols[ch].tolist()) for ch, is_bool in channels.items()]
        out: Values = {}
        for channel, is_bool, col in self._lists:
            x = col[i]
            if x == x:  # not NaN
                out[channel] = x > 0.5 if is_bool else x
        return out


class Runner(Generic[S]):
    """One asset: its model's state and generator, its instruments and its scheduled faults."""

    def __init__(
        self,
        asset: Asset,
        rng: np.random.Generator,
        state: S,
        block: Block[S],
        faults: tuple[ScheduledFault, ...],
        *,
        step_s: float,
        local0_s: float,
    ) -> None:
        self.asset = asset
        self.rng = rng
        self.state = state
        self._block = block
        self.faults = faults
        self.step_s = step_s
        self.local0_s = local0_s
        self.every = max(1, round(asset.interval_s / step_s))
        self.channels = dict(STANDARD_CHANNELS[asset.kind])
        self.calibration = calibration(list(self.channels), _cal_rng(rng))
        self.held: dict[int, float] = {}
        self.current: Blocked | None = None
        self.next_block = 0

    def block(self, index: int) -> Blocked:
        """Block ``index`` (steps ``index * BLOCK_STEPS`` onwards), computing the ones before it first."""
        if self.current is not None and self.current.first == index * BLOCK_STEPS:
            return self.current
        if index < self.next_block:
            raise ValueError(f"block {index} is past: the next is {self.next_block}")
        while self.next_block <= index:
            self.current = self._compute(self.next_block)
            self.next_block += 1
        assert self.current is not None
        return self.current

    def _compute(self, index: int) -> Blocked:
        first = index * BLOCK_STEPS
        elapsed = np.arange(first, first + BLOCK_STEPS, dtype=np.float64) * self.step_s
        tracks = [(i, t) for i, f in enumerate(self.faults) if (t := _track(f, elapsed)) is not None]
        machine = tuple(t for _, t in tracks if FAULT_KINDS[t.kind].family not in ("sensor", "device"))
        self.state, cols = self._block(self.state, self.step_s, machine, self.rng, self.local0_s + elapsed)
        calibrate(cols, self.calibration)
        sensor = [(i, t) for i, t in tracks if FAULT_KINDS[t.kind].family == "sensor"]
        if sensor:
            sensor_faults(cols, sensor, SENSOR_CHANNEL[self.asset.kind], self.held)
        wire = np.zeros(BLOCK_STEPS, dtype=np.int8)
        skew = np.zeros(BLOCK_STEPS, dtype=np.int64)
        for _, t in tracks:
            if t.kind == "device_offline":
                wire[t.on] = 1
            elif t.kind == "malformed_burst":
                wire[t.on & (wire == 0)] = 2
            elif t.kind == "clock_skew":
                skew[t.on] += round(SKEW_MS * t.severity)
        return Blocked(first, cols, wire, skew)


def _track(fault: ScheduledFault, elapsed: Array) -> FaultTrack | None:
    """The fault over a block whose steps are at ``elapsed`` seconds into the run; None when not in it."""
    end = fault.end_s
    if elapsed[-1] < fault.at_s or (end is not None and elapsed[0] >= end):
        return None
    on = elapsed >= fault.at_s
    if end is not None:
        on &= elapsed < end
    return FaultTrack(
        fault.kind,
        np.where(on, elapsed - fault.at_s, np.nan),
        fault.severity,
        fault.channel,
        fault.limit_after_s,
    )


def _cal_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator for the instruments, split off the asset's own so that the physics' draws stay put."""
    seq = rng.bit_generator.seed_seq
    assert isinstance(seq, np.random.SeedSequence)
    return np.random.default_rng(seq.spawn(1)[0])
