"""The simulation: every asset of a site stepped together on simulated time, faults from a scenario.

Deterministic: the same site, scenario, seed and start give the same readings, whatever the wall clock
does. Each asset has its own random generator, derived from the seed and the asset's id, so adding an
asset or a fault elsewhere does not change another asset's readings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

import numpy as np

from facwatch.model import Asset, AssetKind, Site, utc_from_ms
from simulator import elevator, power, pump
from simulator.faults import FAULT_KINDS, ActiveFault
from simulator.scenario import Scenario, ScheduledFault

Values = dict[str, float | bool]
S = TypeVar("S")


class Tick(NamedTuple):
    """What one asset reports at one simulated time."""

    asset: Asset
    ts_ms: int
    values: Values


class _Runner(Generic[S]):
    """One asset: its model's state, generator and scheduled faults."""

    def __init__(
        self,
        asset: Asset,
        rng: np.random.Generator,
        state: S,
        step: Callable[[S, float, tuple[ActiveFault, ...], np.random.Generator, float], tuple[S, Values]],
        faults: tuple[ScheduledFault, ...],
    ) -> None:
        self.asset = asset
        self.rng = rng
        self.state = state
        self._step = step
        self.faults = faults
        self.every = max(1, round(asset.interval_s))

    def advance(self, dt: float, elapsed_s: float, t_s: float) -> Values:
        active = (
            tuple(a for f in self.faults if (a := f.active_at(elapsed_s)) is not None) if self.faults else ()
        )
        self.state, values = self._step(self.state, dt, active, self.rng, t_s)
        return values


def asset_rng(seed: int, asset_id: str) -> np.random.Generator:
    """The asset's own generator: a stable function of the run's seed and the asset's id."""
    key = int.from_bytes(hashlib.sha256(asset_id.encode()).digest()[:8], "big")
    return np.random.default_rng(np.random.SeedSequence([seed, key]))


def _runner(
    asset: Asset, rng: np.random.Generator, t_s: float, faults: tuple[ScheduledFault, ...]
) -> _Runner[elevator.ElevatorState] | _Runner[pump.PumpState] | _Runner[power.PowerState]:
    if asset.kind is AssetKind.ELEVATOR:
        return _Runner(asset, rng, elevator.initial(asset, rng, t_s), elevator.step, faults)
    if asset.kind is AssetKind.PUMP:
        return _Runner(asset, rng, pump.initial(asset, rng, t_s), pump.step, faults)
    return _Runner(asset, rng, power.initial(asset, rng, t_s), power.step, faults)


@dataclass(frozen=True, slots=True)
class Label:
    """Ground truth: one injected fault, and the alert a correct system raises for it."""

    site: str
    asset: str
    asset_kind: str
    fault: str
    level: str
    onset_ms: int
    end_ms: int | None

    def as_dict(self) -> dict[str, object]:
        return {
            "site": self.site,
            "asset": self.asset,
            "asset_kind": self.asset_kind,
            "fault": self.fault,
            "level": self.level,
            "onset": utc_from_ms(self.onset_ms).isoformat(),
            "onset_ms": self.onset_ms,
            "end": None if self.end_ms is None else utc_from_ms(self.end_ms).isoformat(),
            "end_ms": self.end_ms,
        }


class Simulation:
    """Steps every asset of ``site`` once per ``step_s`` of simulated time from ``start_ms`` on."""

    def __init__(
        self, site: Site, scenario: Scenario, *, seed: int = 0, start_ms: int, step_s: float = 1.0
    ) -> None:
        scenario.check(site)
        self.site = site
        self.scenario = scenario
        self.seed = seed
        self.start_ms = start_ms
        self.step_s = step_s
        self.tick_index = 0
        start = utc_from_ms(start_ms).astimezone(ZoneInfo(site.timezone))
        offset = start.utcoffset()
        self._offset_s = offset.total_seconds() if offset is not None else 0.0
        t_s = self._local_s(start_ms)
        self._runners = [
            _runner(a, asset_rng(seed, a.id), t_s, scenario.faults_for(a.id)) for a in site.assets
        ]

    def _local_s(self, ts_ms: int) -> float:
        return ts_ms / 1000.0 + self._offset_s

    @property
    def now_ms(self) -> int:
        """The simulated time of the next tick."""
        return self.start_ms + round(self.tick_index * self.step_s * 1000)

    def step(self) -> list[Tick]:
        """Advance every asset by one step; the readings of the assets due to report at this time."""
        k = self.tick_index
        ts_ms = self.now_ms
        elapsed = k * self.step_s
        t_s = self._local_s(ts_ms)
        ticks: list[Tick] = []
        for runner in self._runners:
            values = runner.advance(self.step_s, elapsed, t_s)
            if k % runner.every == 0:
                ticks.append(Tick(runner.asset, ts_ms, values))
        self.tick_index += 1
        return ticks

    def run(self, duration_s: float) -> Iterator[Tick]:
        """Every reading of the next ``duration_s`` simulated seconds, in time order."""
        end = self.tick_index + round(duration_s / self.step_s)
        while self.tick_index < end:
            yield from self.step()

    def labels(self, duration_s: float | None = None) -> list[Label]:
        """Ground truth of the scenario's faults (those starting within ``duration_s``, when given)."""
        out: list[Label] = []
        for fault in self.scenario.faults:
            if duration_s is not None and fault.at_s >= duration_s:
                continue
            asset = self.site.asset(fault.asset)
            kind = FAULT_KINDS[fault.kind]
            end = fault.end_s
            out.append(
                Label(
                    site=self.site.id,
                    asset=fault.asset,
                    asset_kind=str(asset.kind if asset else kind.asset_kind),
                    fault=fault.kind,
                    level=str(kind.level),
                    onset_ms=self.start_ms + round(fault.at_s * 1000),
                    end_ms=None if end is None else self.start_ms + round(end * 1000),
                )
            )
        return out


def local_midnight_ms(site: Site, now: datetime) -> int:
    """The start of ``now``'s day in the site's time zone, in epoch ms: a day's run shows a whole day."""
    local = now.astimezone(ZoneInfo(site.timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return int(midnight.timestamp() * 1000)
