"""The simulation: every asset of a site stepped together on simulated time, faults from a scenario.

Deterministic: the same site, scenario, seed and start give the same readings, whatever the wall clock
does. Each asset has its own random generator, derived from the seed and the asset's id, so adding an
asset or a fault elsewhere does not change another asset's readings.

Per asset, block by block (``runner``): the physics (``elevator``/``pump``/``power.block``) gives the true
readings; the
instruments' calibration errors and sensor faults (``sensors``) turn them into what the device reports;
device faults decide how it reaches the wire (``Tick.wire``: sent, ``offline`` — nothing is sent and the
publisher lets the device's last will fire — or ``malformed`` — sent along with a burst of bad payloads),
and a skewed clock shifts the reading's timestamp.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from facwatch.model import Asset, AssetKind, Site, utc_from_ms
from simulator import elevator, elevator_block, power, pump
from simulator.faults import FAULT_KINDS, LIMITS, Array
from simulator.runner import BLOCK_STEPS, WIRE, Blocked, Runner
from simulator.scenario import Scenario, ScheduledFault

Values = dict[str, float | bool]


class Tick(NamedTuple):
    """What one asset reports at one simulated time (``ts_ms``: by the device's clock)."""

    asset: Asset
    ts_ms: int
    values: Values
    wire: str = ""
    """How it goes out: "" normally, "offline" (not sent: the device is off the network), "malformed"."""


def asset_rng(seed: int, asset_id: str) -> np.random.Generator:
    """The asset's own generator: a stable function of the run's seed and the asset's id."""
    key = int.from_bytes(hashlib.sha256(asset_id.encode()).digest()[:8], "big")
    return np.random.default_rng(np.random.SeedSequence([seed, key]))


AnyRunner = Runner[elevator.ElevatorState] | Runner[pump.PumpState] | Runner[power.PowerState]


def _runner(
    asset: Asset, rng: np.random.Generator, local0_s: float, faults: tuple[ScheduledFault, ...], step_s: float
) -> AnyRunner:
    where = {"step_s": step_s, "local0_s": local0_s}
    if asset.kind is AssetKind.ELEVATOR:
        return Runner(
            asset, rng, elevator.initial(asset, rng, local0_s), elevator_block.block, faults, **where
        )
    if asset.kind is AssetKind.PUMP:
        return Runner(asset, rng, pump.initial(asset, rng, local0_s), pump.block, faults, **where)
    return Runner(asset, rng, power.initial(asset, rng, local0_s), power.block, faults, **where)


@dataclass(frozen=True, slots=True)
class Label:
    """Ground truth: one injected fault, and the finding and level a correct system raises for it."""

    site: str
    asset: str
    asset_kind: str
    fault: str
    level: str | None
    onset_ms: int
    end_ms: int | None
    finding: str | None = None
    channel: str | None = None
    severity: float = 1.0
    limit_at_ms: int | None = None
    """Wear faults: when the channel crosses ``limit``; then ``limit_finding`` at ``limit_level`` applies."""
    limit: float | None = None
    limit_finding: str | None = None
    limit_level: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The line of ``labels.jsonl`` (the shared contract: asset, kind, onset, end, finding, level,
        channel, limit_at; ``fault`` repeats ``kind`` for older readers)."""
        return {
            "site": self.site,
            "asset": self.asset,
            "asset_kind": self.asset_kind,
            "kind": self.fault,
            "fault": self.fault,
            "finding": self.finding,
            "level": self.level,
            "channel": self.channel,
            "onset": _iso(self.onset_ms),
            "onset_ms": self.onset_ms,
            "end": _iso(self.end_ms),
            "end_ms": self.end_ms,
            "limit_at": _iso(self.limit_at_ms),
            "limit_at_ms": self.limit_at_ms,
            "limit": self.limit,
            "limit_finding": self.limit_finding,
            "limit_level": self.limit_level,
            "severity": self.severity,
        }


def _iso(ts_ms: int | None) -> str | None:
    return None if ts_ms is None else utc_from_ms(ts_ms).isoformat().replace("+00:00", "Z")


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
            _runner(a, asset_rng(seed, a.id), t_s, scenario.faults_for(a.id), step_s) for a in site.assets
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
        index, i = divmod(k, BLOCK_STEPS)
        ticks: list[Tick] = []
        for runner in self._runners:
            if k % runner.every:
                continue
            b = runner.block(index)
            values = b.values(i, runner.channels)
            ticks.append(Tick(runner.asset, ts_ms + int(b.skew[i]), values, WIRE[b.wire[i]]))
        self.tick_index += 1
        return ticks

    def blocks(self, duration_s: float) -> Iterator[tuple[Asset, Array, Blocked, Array]]:
        """The next ``duration_s`` simulated seconds block by block, for writing files fast: per asset and
        block, its reporting steps' true timestamps (ms), the block, and the rows of it they are.

        Consumes the run like ``run`` does; do not mix the two on one simulation.
        """
        end = self.tick_index + round(duration_s / self.step_s)
        while self.tick_index < end:
            index, i = divmod(self.tick_index, BLOCK_STEPS)
            stop = min(end - index * BLOCK_STEPS, BLOCK_STEPS)
            ks = index * BLOCK_STEPS + np.arange(i, stop)
            for runner in self._runners:
                b = runner.block(index)
                mine = ks[ks % runner.every == 0]
                ts = self.start_ms + np.round(mine * self.step_s * 1000.0)
                yield runner.asset, ts, b, (mine - index * BLOCK_STEPS).astype(np.float64)
            self.tick_index = index * BLOCK_STEPS + stop

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
            level = kind.level_for(asset)
            channel = kind.channel_for(asset, fault.channel)
            onset_ms = self.start_ms + round(fault.at_s * 1000)
            wear = kind.limit_finding is not None
            out.append(
                Label(
                    site=self.site.id,
                    asset=fault.asset,
                    asset_kind=str(asset.kind if asset else kind.asset_kind),
                    fault=fault.kind,
                    level=None if level is None else str(level),
                    onset_ms=onset_ms,
                    end_ms=None if end is None else self.start_ms + round(end * 1000),
                    finding=kind.finding,
                    channel=channel,
                    severity=fault.severity,
                    limit_at_ms=onset_ms + round(fault.limit_after_s * 1000) if wear else None,
                    limit=LIMITS.get(channel or "") if wear else None,
                    limit_finding=kind.limit_finding,
                    limit_level=None if kind.limit_level is None else str(kind.limit_level),
                )
            )
        return out


def local_midnight_ms(site: Site, now: datetime) -> int:
    """The start of ``now``'s day in the site's time zone, in epoch ms: a day's run shows a whole day."""
    local = now.astimezone(ZoneInfo(site.timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return int(midnight.timestamp() * 1000)
