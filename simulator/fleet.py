"""The site's devices held on the network across a script of moments (tests that skip days).

``run_publisher`` connects the devices for one run and lets them go at its end, each saying ``offline``. A
script that plays a month as a few moments (a window on day 3, a visit on day 12) and moves the system's
clock over the days between them needs the same devices to stay on the network meanwhile, as real ones
do; otherwise every device goes offline between moments and the engineers hear of it. A ``Fleet``:

- ``open()`` connects every device (``offline`` last will, ``online`` retained on connect);
- ``play(scenario, start_ms=..., ...)`` publishes one moment: a fresh simulation from ``start_ms`` (the
  moment's event time) at real-time pace, over the held connections;
- between moments it holds: each device repeats ``online`` on its status topic every ``heartbeat_s``, a
  heartbeat without a timestamp, heard at whatever time the gateway's clock says;
- ``jump(step)`` runs ``step`` (the script moving the system's clock) under the fleet's lock and has every
  device say ``online`` right after it, so the gateway hears each device in the new time at once;
- ``silent()`` keeps them quiet for a block (connected, no heartbeat);
- ``close()`` says ``offline``, disconnects, and joins the heartbeat thread (each wait bounded).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog

from facwatch.errors import ConfigError
from facwatch.model import Site
from simulator.engine import Simulation
from simulator.publisher import (
    CONNECT_TIMEOUT_S,
    Device,
    PublishReport,
    await_connections,
    parse_broker_url,
    play,
    shutdown,
)
from simulator.scenario import Scenario

log = structlog.get_logger("simulator.fleet")

HEARTBEAT_S = 1.0
JOIN_TIMEOUT_S = 5.0


class Fleet:
    """``site``'s devices, connected once to ``broker_url`` for a whole script (see the module)."""

    def __init__(
        self, site: Site, broker_url: str, *, run_id: str = "fleet", heartbeat_s: float = HEARTBEAT_S
    ) -> None:
        if heartbeat_s <= 0:
            raise ConfigError(f"simulator: the heartbeat must be positive, got {heartbeat_s}")
        self.site = site
        self.url = broker_url
        self._where = (*parse_broker_url(broker_url), run_id)
        self._heartbeat_s = heartbeat_s
        self._devices: dict[str, Device] = {}
        self._lock = threading.Lock()
        """Held while a moment plays, a jump runs or a heartbeat goes out: they never interleave."""
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self.beats = 0
        """Heartbeat rounds sent (every device once a round)."""

    def open(self, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        """Connect every device and start holding; raises ``BrokerUnreachable`` when one cannot connect."""
        host, port, run_id = self._where
        self._devices = {a.id: Device(self.site, a, host, port, run_id) for a in self.site.assets}
        for device in self._devices.values():
            device.client.loop_start()
        try:
            await_connections(list(self._devices.values()), self._closing, self.url, connect_timeout_s)
        except BaseException:
            shutdown(list(self._devices.values()), PublishReport())
            self._devices = {}
            raise
        self._thread = threading.Thread(target=self._hold, name="simulator-fleet-heartbeat", daemon=True)
        self._thread.start()
        log.info("fleet connected", site=self.site.id, devices=len(self._devices), broker=self.url)

    def play(
        self,
        scenario: Scenario,
        *,
        start_ms: int,
        duration_s: float | None = None,
        seed: int = 0,
        speed: float = 1.0,
        stop: threading.Event | None = None,
    ) -> PublishReport:
        """One moment: ``scenario`` simulated from ``start_ms`` until ``stop`` or ``duration_s`` simulated
        seconds, over the held connections (no heartbeats meanwhile: the telemetry is the devices' voice)."""
        if speed <= 0:
            raise ConfigError(f"simulator: --speed must be positive, got {speed}")
        if not self._devices:
            raise RuntimeError("the fleet is not open")
        sim = Simulation(self.site, scenario, seed=seed, start_ms=start_ms)
        report = PublishReport(start_ms=start_ms, per_asset={a.id: 0 for a in self.site.assets})
        with self._lock:
            log.info("fleet moment", scenario=scenario.name, start_ms=start_ms, speed=speed)
            stop = stop or threading.Event()
            play(sim, self._devices, report, self._where, speed=speed, duration_s=duration_s, stop=stop)
            self._reconnect_dropped()
        log.info(
            "fleet moment over", scenario=scenario.name, seconds=report.seconds, telemetry=report.telemetry
        )
        return report

    def jump(self, step: Callable[[], None]) -> None:
        """Run ``step`` (the script moving the clock), then have every device say ``online`` at once."""
        with self._lock:
            step()
            self._beat()

    @contextmanager
    def silent(self) -> Iterator[None]:
        """The devices say nothing for the block (connections held, no heartbeat): a network stall, or a
        script that moves the clock without them (which the gateway then judges as silence)."""
        with self._lock:
            yield

    def close(self) -> None:
        """Say ``offline``, disconnect and stop holding; every wait is bounded."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                log.warning("fleet heartbeat did not stop", timeout_s=JOIN_TIMEOUT_S)
        if self._lock.acquire(timeout=JOIN_TIMEOUT_S):
            self._lock.release()
        shutdown(list(self._devices.values()), PublishReport())
        self._devices = {}

    def _hold(self) -> None:
        while not self._closing.wait(self._heartbeat_s):
            # A moment playing holds the lock: skip this round rather than wait behind it.
            if self._lock.acquire(blocking=False):
                try:
                    self._beat()
                finally:
                    self._lock.release()

    def _beat(self) -> None:
        for device in self._devices.values():
            if device.connected.is_set():
                device.publish(device.status_topic, "online", retain=True)
        self.beats += 1

    def _reconnect_dropped(self) -> None:
        """A device still off the network when its moment ends (``device_offline`` to the end) comes back."""
        host, port, run_id = self._where
        for asset_id, device in list(self._devices.items()):
            if device.dropped:
                back = self._devices[asset_id] = Device(self.site, device.asset, host, port, run_id)
                back.seq, back.alarm = device.seq, device.alarm
                back.client.loop_start()
