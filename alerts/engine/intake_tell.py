"""Telling the fallback person directly while the findings queue cannot reach the state database.

While the database has been unreachable for more than ``tell_after_s`` (60 s), the fallback person is told
directly through ``tell_fallback`` (apprise, outside the outbox, which lives in that database), once per
outage, naming the RED and ORANGE conditions that wait; and told again when it is back. The committer
(``alerts/engine/intake.py``) says when the outage lasts (``maybe_tell``) and when it ended (``back``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from structlog.typing import FilteringBoundLogger

from alerts.engine.intake_queue import FindingsQueue
from facwatch.model import Finding, Level, utc_from_ms

_TELL_RETRY_S = 30.0

TellFallback = Callable[[str, str], bool]
"""(title, body) -> whether the fallback person was reached."""


def outage_message(site: str, down_s: float, waiting: list[Finding], backlog: int) -> tuple[str, str]:
    """The direct message to the fallback person while the state database is unreachable."""
    title = f"facwatch {site}: state database unreachable for {down_s:.0f} s"
    lines = [
        f"facwatch cannot reach its state database (site {site}) for {down_s:.0f} s.",
        f"Alerts are detected but cannot open, and nobody else is notified: {backlog} batch(es) of findings wait.",
    ]
    urgent = [f for f in waiting if f.active and f.level in (Level.RED, Level.ORANGE)]
    for f in urgent[:10]:
        lines.append(
            f"- {f.level.value.upper()} {f.kind} on {f.asset} since {utc_from_ms(f.ts_ms):%H:%M:%S} UTC"
        )
    if len(urgent) > 10:
        lines.append(f"- and {len(urgent) - 10} more")
    lines.append("They open with their original time as soon as the database is back.")
    return title, "\n".join(lines)


class FallbackTeller:
    """Tells one site's fallback person of a state-database outage: once per outage, and when it ends."""

    def __init__(
        self,
        site: str,
        tell_fallback: TellFallback | None,
        tell_after_s: float,
        log: FilteringBoundLogger,
    ) -> None:
        self._site = site
        self._tell_fallback = tell_fallback
        self._tell_after_s = tell_after_s
        self._log = log
        self._told_at: float | None = None
        self._told_outage = False
        self.tells: list[str] = []
        """Titles of the direct messages sent to the fallback person (newest last)."""

    def maybe_tell(self, down_s: Callable[[], float], queue: FindingsQueue) -> None:
        """Commits have failed for ``down_s()``: tell the fallback person what waits in ``queue``, once."""
        if self._tell_fallback is None or self._told_outage or down_s() <= self._tell_after_s:
            return
        if self._told_at is not None and time.monotonic() - self._told_at < _TELL_RETRY_S:
            return
        waiting: list[Finding] = []
        for entry in queue.head(200):
            with contextlib.suppress(Exception):  # an undecodable entry is set aside by the committer
                waiting.extend(entry.judgement().findings)
        title, body = outage_message(self._site, down_s(), waiting, len(queue))
        self._told_at = time.monotonic()
        self._told_outage = self._tell(title, body)

    def back(self, down: float) -> None:
        """The state database answers again after ``down`` seconds: tell whoever was told of the outage."""
        if self._told_outage and self._tell_fallback is not None:
            title = f"facwatch {self._site}: state database back after {down:.0f} s"
            body = f"facwatch reaches its state database again; the alerts that waited are opening now ({title})."
            self._tell(title, body)
        self._told_outage, self._told_at = False, None

    def _tell(self, title: str, body: str) -> bool:
        assert self._tell_fallback is not None
        try:
            told = bool(self._tell_fallback(title, body))
        except Exception as exc:
            self._log.error("intake.tell_fallback_failed", error=str(exc)[:200])
            told = False
        self._log.warning("intake.told_fallback", title=title, told=told)
        if told:
            self.tells.append(title)
        return told
