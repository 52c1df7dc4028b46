"""Stopping sites: one site's stop in its phases (for its ``site.stopped`` line), and several sites stopped
at once (``facwatch run`` without leases; a worker's lease keeper does the same for its sites)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

import structlog

if TYPE_CHECKING:
    from facwatch.runtime import SiteRuntime

log = structlog.get_logger("facwatch.runtime")


class Stoppable(Protocol):
    """A site's running parts (facwatch.runtime.SiteRuntime)."""

    @property
    def running(self) -> bool: ...

    def stop(self) -> None: ...


class Phases:
    """The milliseconds each phase of a stop took (for the ``site.stopped`` line)."""

    def __init__(self) -> None:
        self.began = self._mark = time.monotonic()
        self.ms: dict[str, int] = {}

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.ms[name] = round((now - self._mark) * 1000)
        self._mark = now

    @property
    def total_ms(self) -> int:
        return round((self._mark - self.began) * 1000)


def stop_in_order(runtime: SiteRuntime) -> None:
    """``SiteRuntime.stop``'s phases, in the order of the data flow (see its docstring); the caller holds its
    stop lock."""
    runtime._stop.set()
    phases = Phases()
    unfinished: list[str] = []
    # First, while the connection is up: a batch in flight is acknowledged at once (after the gateway's
    # stop it would wait its MQTT_ACK_S out); what it did not publish, the next owner's reader does.
    reader, runtime.mqtt_reader = runtime.mqtt_reader, None
    if reader is not None:
        reader.stop()
        phases.lap("alert_topic")
    gateway, runtime.gateway = runtime.gateway, None
    if gateway is not None:
        gateway.stop()
        phases.lap("gateway")
    intake, runtime.intake = runtime.intake, None
    if intake is not None:
        intake.stop()  # commits what is queued while the database answers; the file keeps the rest
        phases.lap("intake")
        if intake.backlog():
            unfinished.append(
                f"{intake.backlog()} judgements with findings left in {runtime.intake_path.name} "
                "for the next start of this site"
            )
    for thread in runtime._threads:
        thread.join(timeout=10)
    phases.lap("loops")
    dispatcher, runtime.dispatcher = runtime.dispatcher, None
    if dispatcher is not None:
        if not runtime._tick_once():
            unfinished.append("the last tick of the SLA clocks")
        phases.lap("tick")
        if not runtime._deliver_once(dispatcher):
            unfinished.append("the last delivery of the outbox (the next owner sends it)")
        phases.lap("deliver")
        if not runtime._checkpoint_once():
            unfinished.append("the last checkpoint (the next start restores the one before)")
        phases.lap("checkpoint")
        dispatcher.close()
    if unfinished:
        runtime._log.warning("site.stopped", ms=phases.ms, total_ms=phases.total_ms, unfinished=unfinished)
    else:
        runtime._log.info("site.stopped", ms=phases.ms, total_ms=phases.total_ms)


def stop_sites(runtimes: Mapping[str, Stoppable], timeout_s: float = 20.0) -> None:
    """Stop several sites at once, a thread each (a site's stop mostly waits: on its broker connection, on the
    state database); returns when all have stopped, or after ``timeout_s`` (the process is ending)."""
    threads = {
        site: threading.Thread(target=runtime.stop, name=f"facwatch-stop-{site}", daemon=True)
        for site, runtime in runtimes.items()
        if runtime.running
    }
    for thread in threads.values():
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    left = sorted(site for site, thread in threads.items() if thread.is_alive())
    if left:
        log.error("sites.stop_unfinished", sites=left, timeout_s=timeout_s)


__all__ = ["Phases", "Stoppable", "stop_in_order", "stop_sites"]
