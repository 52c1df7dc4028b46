"""Scenarios: faults on a timeline, read from TOML, and the ground-truth labels they imply.

    name = "demo"
    description = "..."

    [[faults]]
    asset = "b1-elev-1"
    kind = "entrapment"      # a key of simulator.faults.FAULT_KINDS
    at_s = 30                # seconds after the run starts
    duration_s = 300         # optional; without it the fault lasts until the run ends
    severity = 1.0           # optional; scales the size of the fault (about 0.5 mild to 2 severe)
    channel = "bearing_temp_c"   # optional; the channel of a sensor fault (stuck, drift, dropout)
    limit_after_s = 259200   # optional; a wear fault crosses its channel's limit this long after its onset

A bare name (``demo``) is a scenario of the shipped library, ``simulator/scenarios/NAME.toml``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from facwatch.model import STANDARD_CHANNELS, Site
from simulator.errors import ScenarioError
from simulator.faults import DEFAULT_LIMIT_AFTER_S, FAULT_KINDS, ActiveFault


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    asset: str
    kind: str
    at_s: float
    duration_s: float | None = None
    severity: float = 1.0
    channel: str | None = None
    limit_after_s: float = DEFAULT_LIMIT_AFTER_S

    @property
    def end_s(self) -> float | None:
        return None if self.duration_s is None else self.at_s + self.duration_s

    def active_at(self, elapsed_s: float) -> ActiveFault | None:
        """The fault as the physics sees it ``elapsed_s`` after the run started, or None when not in force."""
        if elapsed_s < self.at_s or (self.end_s is not None and elapsed_s >= self.end_s):
            return None
        return ActiveFault(self.kind, elapsed_s - self.at_s, self.severity, self.channel, self.limit_after_s)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    faults: tuple[ScheduledFault, ...] = ()
    description: str = ""

    def check(self, site: Site) -> None:
        """Refuse a scenario whose faults name assets the site lacks, or a fault of another asset kind."""
        for i, fault in enumerate(self.faults):
            asset = site.asset(fault.asset)
            where = f"scenario {self.name!r}, fault {i + 1}"
            if asset is None:
                raise ScenarioError(f"{where}: site {site.id!r} has no asset {fault.asset!r}")
            expected = FAULT_KINDS[fault.kind].asset_kind
            if expected is not None and asset.kind != expected:
                raise ScenarioError(
                    f"{where}: {fault.kind} is a fault of a {expected}, but {fault.asset} is a {asset.kind}"
                )
            if fault.channel is not None and fault.channel not in STANDARD_CHANNELS[asset.kind]:
                raise ScenarioError(f"{where}: a {asset.kind} has no channel {fault.channel!r}")

    def faults_for(self, asset_id: str) -> tuple[ScheduledFault, ...]:
        return tuple(f for f in self.faults if f.asset == asset_id)


def shipped() -> list[str]:
    """Names of the scenarios in the shipped library."""
    folder = resources.files("simulator").joinpath("scenarios")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A scenario file, or a bare name from the shipped library (``demo``, ``quiet``, ...)."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix == ".toml" or "/" in text or path.is_file():
        try:
            return parse_scenario(path.read_text(encoding="utf-8"), str(path), default_name=path.stem)
        except FileNotFoundError as exc:
            raise ScenarioError(f"{path}: no such scenario file") from exc
    if text not in shipped():
        raise ScenarioError(f"no shipped scenario {text!r}; shipped: {', '.join(shipped())}, or give a file")
    resource = resources.files("simulator").joinpath(f"scenarios/{text}.toml")
    return parse_scenario(resource.read_text(encoding="utf-8"), f"scenario {text}", default_name=text)


def parse_scenario(text: str, origin: str = "scenario", default_name: str = "scenario") -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{origin}: not valid TOML: {exc}") from exc
    raw_faults = data.get("faults", [])
    if not isinstance(raw_faults, list):
        raise ScenarioError(f"{origin}: faults must be an array of tables ([[faults]])")
    faults = tuple(_fault(raw, f"{origin}: fault {i + 1}") for i, raw in enumerate(raw_faults))
    return Scenario(
        name=str(data.get("name", default_name)),
        faults=tuple(sorted(faults, key=lambda f: f.at_s)),
        description=str(data.get("description", "")),
    )


def _fault(raw: Any, where: str) -> ScheduledFault:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a table")
    unknown = set(raw) - {"asset", "kind", "at_s", "duration_s", "severity", "channel", "limit_after_s"}
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}")
    asset, kind = raw.get("asset"), raw.get("kind")
    if not isinstance(asset, str) or not asset:
        raise ScenarioError(f"{where}: asset must be an asset id")
    if kind not in FAULT_KINDS:
        raise ScenarioError(f"{where}: unknown kind {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}")
    at_s = _seconds(raw.get("at_s"), f"{where}: at_s")
    if at_s is None:
        raise ScenarioError(f"{where}: at_s is required")
    duration = _seconds(raw.get("duration_s"), f"{where}: duration_s")
    if duration is not None and duration <= 0:
        raise ScenarioError(f"{where}: duration_s must be positive")
    severity = raw.get("severity", 1.0)
    if isinstance(severity, bool) or not isinstance(severity, int | float) or not 0 < severity <= 10:
        raise ScenarioError(f"{where}: severity must be a number in (0, 10], got {severity!r}")
    channel = raw.get("channel")
    if channel is not None and (not isinstance(channel, str) or FAULT_KINDS[str(kind)].family != "sensor"):
        raise ScenarioError(f"{where}: channel is a channel name, for a sensor fault (stuck, drift, dropout)")
    limit_after = _seconds(raw.get("limit_after_s"), f"{where}: limit_after_s")
    if limit_after is not None and limit_after <= 0:
        raise ScenarioError(f"{where}: limit_after_s must be positive")
    return ScheduledFault(
        asset=asset,
        kind=str(kind),
        at_s=at_s,
        duration_s=duration,
        severity=float(severity),
        channel=channel,
        limit_after_s=DEFAULT_LIMIT_AFTER_S if limit_after is None else limit_after,
    )


def _seconds(raw: object, where: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
        raise ScenarioError(f"{where} must be a number of seconds ≥ 0, got {raw!r}")
    return float(raw)
