"""Plots of the simulator's channels for docs/simulator.md: a normal day, and each fault family.

    .venv/bin/pip install -e '.[plots]'
    .venv/bin/python scripts/plot_simulator.py [--out docs/img] [--only NAME ...]

Writes ``sim-<name>.png`` (names: ``FIGURES``) with matplotlib's Agg backend (no display needed). Every
figure comes from the simulator's own API on the bundled demo site with a fixed seed, so rerunning the
script redraws the same pictures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facwatch.config import load_site
from facwatch.model import STANDARD_CHANNELS, Site
from simulator.engine import Simulation, local_midnight_ms
from simulator.faults import LIMITS
from simulator.scenario import Scenario, ScheduledFault

SEED = 7
DAY = 86_400
Series = dict[str, np.ndarray]


def demo() -> Site:
    return load_site("demo", variables={"data_dir": "/tmp"})


MIDNIGHT = local_midnight_ms(demo(), datetime(2026, 3, 4, 12, tzinfo=UTC))


def run(asset_id: str, faults: tuple[ScheduledFault, ...], start_s: float, duration_s: float) -> Series:
    """One asset of the demo site from ``start_s`` after local midnight: every channel, and ``t`` (s)."""
    site = demo()
    alone = replace(site, assets=tuple(a for a in site.assets if a.id == asset_id))
    sim = Simulation(alone, Scenario("plot", faults), seed=SEED, start_ms=MIDNIGHT + int(start_s * 1000))
    channels = list(STANDARD_CHANNELS[alone.assets[0].kind])
    rows: dict[str, list[float]] = {"t": [], **{c: [] for c in channels}}
    for tick in sim.run(duration_s):
        rows["t"].append((tick.ts_ms - sim.start_ms) / 1000)
        for channel in channels:
            rows[channel].append(float(tick.values.get(channel, np.nan)))  # a dropout is a gap
    return {k: np.array(v) for k, v in rows.items()}


def minutely(values: np.ndarray, fn: Callable[[np.ndarray], np.ndarray] = np.mean) -> np.ndarray:
    usable = len(values) // 60 * 60
    return fn(values[:usable].reshape(-1, 60), axis=1)  # type: ignore[call-arg]


def normal_day() -> Figure:
    fig, axes = plt.subplots(4, 1, figsize=(10, 10), sharex=True)
    hours = np.arange(DAY // 60) / 60
    car = run("b1-elev-1", (), 0, DAY)
    ax = axes[0]
    ax.plot(hours, minutely(car["running"]) * 100, color="tab:blue", lw=0.8)
    ax.set_ylabel("car running, % of minute")
    ax2 = ax.twinx()
    ax2.plot(car["t"] / 3600, car["floor"], color="tab:gray", lw=0.3, alpha=0.6)
    ax2.set_ylabel("floor")
    ax.set_title("Building 1 elevator: trips follow the residents' day (morning and evening peaks)")
    pump = run("b1-pump-1", (), 0, DAY)
    ax = axes[1]
    ax.plot(hours, minutely(pump["flow_m3h"]), label="flow m³/h", color="tab:blue")
    ax.set_ylabel("flow m³/h")
    ax2 = ax.twinx()
    ax2.plot(hours, minutely(pump["discharge_pressure_bar"]), label="discharge bar", color="tab:red")
    ax2.set_ylabel("discharge bar", color="tab:red")
    ax.set_title("Booster pump: demand sets the flow, the pump curve the pressure (falls as flow rises)")
    ax = axes[2]
    ax.plot(hours, minutely(pump["motor_current_a"]), label="motor current A", color="tab:green")
    ax.plot(hours, minutely(pump["bearing_temp_c"]), label="bearing °C", color="tab:orange")
    ax.legend(loc="upper left")
    ax.set_title("Pump current follows load; bearing temperature follows load and the plant room, lagging")
    panel = run("b1-panel", (), 0, DAY)
    ax = axes[3]
    for phase in (1, 2, 3):
        ax.plot(hours, minutely(panel[f"current_l{phase}_a"]), lw=0.8, label=f"L{phase} A")
    ax.set_ylabel("phase current A")
    ax2 = ax.twinx()
    ax2.plot(hours, minutely(panel["transformer_temp_c"]), color="tab:red", label="transformer °C")
    ax2.set_ylabel("transformer °C", color="tab:red")
    ax.legend(loc="upper left")
    ax.set_title("LV panel: three slightly unequal phases; the transformer's temperature lags the load")
    axes[-1].set_xlabel("local hour")
    axes[-1].set_xticks(range(0, 25, 3))
    return fig


def _fault_panel(
    ax: Axes, asset: str, kind: str, channels: list[str], start_h: float, *, before: float = 120,
    length: float = 600, after: float = 180, **knobs: float,
) -> None:  # fmt: skip
    fault = ScheduledFault(asset, kind, before, length, **knobs)  # type: ignore[arg-type]
    data = run(asset, (fault,), start_h * 3600, before + length + after)
    quiet = run(asset, (), start_h * 3600, before + length + after)
    minutes = data["t"] / 60
    for i, channel in enumerate(channels):
        color = f"C{i}"
        ax.plot(minutes, quiet[channel], color=color, lw=0.6, alpha=0.35)
        ax.plot(minutes, data[channel], color=color, lw=0.9, label=channel)
    ax.axvspan(before / 60, (before + length) / 60, color="tab:red", alpha=0.08)
    ax.set_title(f"{kind} on {asset}", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_xlabel("minutes (faint: the same run without the fault)", fontsize=7)


def elevator_faults() -> Figure:
    fig, axes = plt.subplots(3, 2, figsize=(11, 10))
    _fault_panel(axes[0, 0], "b1-elev-1", "entrapment", ["speed_mps", "alarm_button", "in_door_zone"], 8)
    _fault_panel(axes[0, 1], "b1-elev-1", "abnormal_vibration", ["vibration_rms_g"], 8)
    _fault_panel(axes[1, 0], "b1-elev-1", "door_fault", ["door_open", "running"], 8, length=120, after=60)
    _fault_panel(axes[1, 1], "b2-elev-1", "overspeed", ["speed_mps"], 18.5)
    _fault_panel(axes[2, 0], "b1-elev-1", "out_of_service", ["running", "speed_mps"], 8)
    axes[2, 1].axis("off")
    fig.suptitle("Elevator faults (shaded: the fault)")
    fig.tight_layout()
    return fig


def pump_faults() -> Figure:
    fig, axes = plt.subplots(3, 2, figsize=(11, 10))
    flow_etc = ["discharge_pressure_bar", "motor_current_a", "flow_m3h"]
    _fault_panel(axes[0, 0], "b1-pump-1", "pipe_burst", flow_etc, 8)
    _fault_panel(axes[0, 1], "b1-pump-1", "dry_run", flow_etc, 8)
    _fault_panel(axes[1, 0], "b1-pump-1", "cavitation", ["suction_pressure_bar", "discharge_pressure_bar",
                 "vibration_rms_mms"], 8)  # fmt: skip
    _fault_panel(axes[1, 1], "b1-pump-1", "overheating", ["bearing_temp_c"], 8, length=3600, after=600)
    _fault_panel(axes[2, 0], "b1-pump-1", "trip", ["running", "discharge_pressure_bar", "motor_current_a"], 8)
    axes[2, 1].axis("off")
    fig.suptitle("Pump faults (shaded: the fault)")
    fig.tight_layout()
    return fig


def power_faults() -> Figure:
    fig, axes = plt.subplots(3, 2, figsize=(11, 10))
    volts = [f"voltage_l{i}_v" for i in (1, 2, 3)]
    amps = [f"current_l{i}_a" for i in (1, 2, 3)]
    _fault_panel(axes[0, 0], "b1-panel", "power_outage", volts, 12)
    _fault_panel(axes[0, 1], "b1-panel", "phase_loss", amps, 12)
    _fault_panel(axes[1, 0], "b1-panel", "voltage_sag", volts, 12, length=300)
    _fault_panel(axes[1, 1], "b1-panel", "voltage_swell", volts, 12, length=300)
    _fault_panel(axes[2, 0], "b1-panel", "overload", amps, 19.5, length=1800)
    _fault_panel(axes[2, 1], "b1-panel", "transformer_overheat", ["transformer_temp_c"], 12, length=7200,
                 after=1800)  # fmt: skip
    fig.suptitle("Power faults (shaded: the fault)")
    fig.tight_layout()
    return fig


def sensor_faults() -> Figure:
    fig, axes = plt.subplots(3, 1, figsize=(10, 8))
    _fault_panel(axes[0], "b1-pump-1", "stuck", ["discharge_pressure_bar"], 6.5, length=3600, after=600,
                 channel="discharge_pressure_bar")  # type: ignore[arg-type]  # fmt: skip
    _fault_panel(axes[1], "b2-panel", "drift", ["transformer_temp_c"], 10, length=7200, after=600,
                 channel="transformer_temp_c")  # type: ignore[arg-type]  # fmt: skip
    _fault_panel(axes[2], "b1-pump-1", "dropout", ["bearing_temp_c"], 8, length=1200,
                 channel="bearing_temp_c")  # type: ignore[arg-type]  # fmt: skip
    fig.suptitle("Sensor faults: the machine is fine, its instrument is not")
    fig.tight_layout()
    return fig


def wear() -> Figure:
    """A week: guide-shoe wear on an elevator and bearing wear on a pump, both crossing their limit."""
    fig, axes = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    days = 7
    cases = [
        (axes[0], "b2-elev-1", "wear", "vibration_rms_g", "speed_mps", 4.5),
        (axes[1], "b1-pump-1", "bearing_wear", "vibration_rms_mms", "running", 5.0),
    ]
    for ax, asset, kind, channel, working, limit_days in cases:
        fault = ScheduledFault(asset, kind, 0.5 * DAY, None, limit_after_s=limit_days * DAY)
        data = run(asset, (fault,), 0, days * DAY)
        hours = data["t"] / 3600
        busy = data[working] > (0.95 * data[working].max() if working == "speed_mps" else 0.5)
        per_hour = np.full(days * 24, np.nan)
        for h in range(days * 24):
            inside = busy[h * 3600 : (h + 1) * 3600]
            if inside.any():
                per_hour[h] = np.median(data[channel][h * 3600 : (h + 1) * 3600][inside])
        ax.plot(
            np.arange(days * 24) + 0.5,
            per_hour,
            marker=".",
            lw=0.8,
            label=f"{channel}, hourly median at work",
        )
        ax.axhline(LIMITS[channel], color="tab:red", ls="--", label=f"limit {LIMITS[channel]}")
        ax.axvline((0.5 + limit_days) * 24, color="tab:red", lw=0.8, label="limit_at (label)")
        ax.axvline(12, color="gray", lw=0.8, label="onset")
        ax.set_title(f"{kind} on {asset}: creeps up, crosses the limit when its label says")
        ax.legend(fontsize=8, loc="upper left")
        del hours
    axes[-1].set_xlabel("hours since the run started")
    return fig


FIGURES: dict[str, Callable[[], Figure]] = {
    "normal-day": normal_day,
    "elevator-faults": elevator_faults,
    "pump-faults": pump_faults,
    "power-faults": power_faults,
    "sensor-faults": sensor_faults,
    "wear": wear,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Plot the simulator's channels for docs/simulator.md")
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--only", nargs="*", choices=sorted(FIGURES), default=None)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or list(FIGURES):
        fig = FIGURES[name]()
        path = args.out / f"sim-{name}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        print(f"wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
