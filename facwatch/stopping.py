"""Stopping sites: the phases of one site's stop (for its ``site.stopped`` line), and several sites stopped
at once (``facwatch run`` without leases; a worker's lease keeper does the same for its sites)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Protocol

import structlog

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


__all__ = ["Phases", "Stoppable", "stop_sites"]
