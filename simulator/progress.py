"""A progress bar of simulated time on stderr, for long runs (drawn only on a terminal unless asked)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


def _span(seconds: float) -> str:
    if seconds >= 2 * 86_400:
        return f"{seconds / 86_400:.1f} d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.0f} s"


class Progress:
    """``update(done_s)`` redraws at most every ``every_s`` wall seconds; ``close()`` ends the line.

    ``enabled`` None means: draw when ``stream`` is a terminal, so that logs and pipes stay clean.
    """

    def __init__(
        self,
        total_s: float,
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        every_s: float = 0.2,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total_s = max(total_s, 1e-9)
        self.every_s = every_s
        self.began = time.monotonic()
        self._drawn = 0.0
        self._last = -1.0

    def update(self, done_s: float, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < self.every_s:
            return
        self._drawn = now
        share = min(1.0, done_s / self.total_s)
        full = round(share * WIDTH)
        wall = now - self.began
        rate = done_s / wall if wall > 0 else 0.0
        bar = "#" * full + "." * (WIDTH - full)
        self.stream.write(
            f"\r[{bar}] {share * 100:5.1f} %  {_span(done_s)} of {_span(self.total_s)} simulated"
            f"  {wall:.0f} s wall  ×{rate:,.0f}"
        )
        self.stream.flush()
        self._last = done_s

    def close(self, done_s: float | None = None) -> None:
        if not self.enabled:
            return
        self.update(self.total_s if done_s is None else done_s, force=True)
        self.stream.write("\n")
        self.stream.flush()
