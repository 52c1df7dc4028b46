"""The engine's watchdog: a site whose SLA clocks stop turning is told, not silent.

Every site's ticker finishes a tick every half second, and a tick takes the engine's locks and a write
transaction of the state database: a tick that has not finished for ``STALL_S`` means the site's engine is
stuck (two threads waiting for each other, a database call that never returns), so no RED would open and no
escalation would run, while nothing fails and nothing is logged. A failing tick is not a stall (it ends at
once, and the intake tells of a state-database outage).

    SiteRuntime.tick_running_s() ─► Watchdog.look() every LOOK_S (a thread of the process, facwatch.app)
        stalled ≥ STALL_S  ─► log ``engine.stalled``, the fallback person told directly, /readyz fails
        running again      ─► log ``engine.running_again``, the fallback person told it is over

``decide`` is the pure part: what to do given how long the tick has run and whether the stall was told.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from enum import StrEnum

import structlog

log = structlog.get_logger("facwatch.watchdog")

STALL_S = 30.0
"""A tick that has not finished for this long is a stall (a tick takes milliseconds); ``[intake] stall_s``."""
LOOK_S = 5.0
"""How often the process looks (a quarter of ``stall_s`` when that is shorter)."""


class Step(StrEnum):
    TELL = "tell"
    TELL_OVER = "tell_over"
    NOTHING = "nothing"


def decide(running_s: float | None, told: bool, stall_s: float = STALL_S) -> Step:
    """``running_s``: how long the current tick has run (None between ticks)."""
    stalled = running_s is not None and running_s >= stall_s
    if stalled and not told:
        return Step.TELL
    if not stalled and told:
        return Step.TELL_OVER
    return Step.NOTHING


Tell = Callable[[str, str, str], bool]
"""(site, title, body) -> whether the fallback person was reached."""


class Watchdog:
    def __init__(
        self,
        running: Callable[[], Mapping[str, float | None]],
        tell: Tell,
        *,
        stall_s: float = STALL_S,
    ) -> None:
        self._running, self._tell = running, tell
        self.stall_s = stall_s
        self._told: set[str] = set()
        self._lock = threading.Lock()

    def stalled(self) -> dict[str, float]:
        """The sites whose tick has run ``stall_s`` or longer, with how long (for the readiness check)."""
        return {site: s for site, s in self._running().items() if s is not None and s >= self.stall_s}

    def probe(self) -> str | None:
        """For ``/readyz``: the stalled sites, or None."""
        stalled = self.stalled()
        if not stalled:
            return None
        return "; ".join(
            f"site {site}: the engine has not finished a tick for {s:.0f} s"
            for site, s in sorted(stalled.items())
        )

    def look(self) -> None:
        """One round: tell of each new stall, and of each that is over."""
        running = self._running()
        with self._lock:
            for site in sorted(set(running) | self._told):
                seconds = running.get(site)
                step = decide(seconds, site in self._told, self.stall_s)
                if step is Step.TELL:
                    log.error("engine.stalled", site=site, tick_running_s=round(seconds or 0.0, 1))
                    title = f"facwatch: site {site}'s engine is stuck"
                    body = (
                        f"The alert engine of site {site} has not finished a clock tick for {seconds:.0f} s. "
                        "Until it runs again, new alerts (RED included) may not open and escalations may not "
                        "run. Watch the site directly and restart facwatch on it."
                    )
                    self._told.add(site)
                    self._send(site, title, body)
                elif step is Step.TELL_OVER:
                    log.warning("engine.running_again", site=site)
                    self._told.discard(site)
                    self._send(
                        site,
                        f"facwatch: site {site}'s engine runs again",
                        f"The alert engine of site {site} ticks again; alerts open and escalate as usual.",
                    )

    def _send(self, site: str, title: str, body: str) -> None:
        try:
            told = self._tell(site, title, body)
        except Exception as exc:
            log.error("watchdog.tell_failed", site=site, error=str(exc)[:200])
            return
        log.warning("watchdog.told_fallback", site=site, title=title, told=told)


__all__ = ["LOOK_S", "STALL_S", "Step", "Watchdog", "decide"]
