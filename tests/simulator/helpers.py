"""Small sites and runs for the simulator's tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from facwatch.config import load_site
from facwatch.model import Asset, AssetKind, Building, Site
from simulator.engine import Simulation, Values
from simulator.scenario import Scenario, ScheduledFault

TZ = "Asia/Shanghai"


def local_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Epoch ms of a local time in the test sites' time zone."""
    return int(datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(TZ)).timestamp() * 1000)


MIDNIGHT = local_ms(2024, 5, 6)


def one_asset_site(kind: AssetKind, asset_id: str, **rated: float) -> Site:
    asset = Asset(id=asset_id, kind=kind, building="b1", name=asset_id, rated=rated)
    return Site(id="t", name="test", timezone=TZ, buildings=(Building("b1", "B1"),), assets=(asset,))


def demo_site() -> Site:
    return load_site("demo", variables={"data_dir": "/tmp"})


def scenario(*faults: tuple[str, str, float, float | None]) -> Scenario:
    return Scenario(name="test", faults=tuple(ScheduledFault(a, k, at, d) for a, k, at, d in faults))


def series(sim: Simulation, duration_s: float) -> dict[str, list[tuple[int, Values]]]:
    """Every asset's readings over ``duration_s``: asset id → [(ts_ms, values)]."""
    out: dict[str, list[tuple[int, Values]]] = {a.id: [] for a in sim.site.assets}
    for tick in sim.run(duration_s):
        out[tick.asset.id].append((tick.ts_ms, tick.values))
    return out


def column(rows: list[tuple[int, Values]], channel: str) -> list[float]:
    return [float(v[channel]) for _, v in rows]


def window(rows: list[tuple[int, Values]], start_ms: int, end_ms: int) -> list[Mapping[str, float | bool]]:
    return [v for ts, v in rows if start_ms <= ts < end_ms]
