"""Readiness: whether the parts this process runs work now, for ``/readyz``.

    /readyz ─► Readiness.verdict() ─► (cached ≤ cache_s) ─► one thread per probe, all under one deadline
                                                             broker · telemetry · state_db · engine_lag

A probe is a callable answering None when its part works, else a short reason. Each runs in its own
thread and the verdict waits for all of them at most ``timeout_s``: a probe that does not answer in time
fails with "no answer", and is not started again until its last run returned (a hung database cannot pile
up threads). Verdicts are cached for ``cache_s``, so a scrape storm costs one probe per part per second.

``judge`` is the pure decision; ``Readiness`` is the shell (threads, clock, cache). Only the parts this
process runs have a probe (``facwatch run --only api`` has no broker): the composition root picks them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass

from sqlalchemy import Engine, text

Probe = Callable[[], str | None]
"""None: the part works; else why it does not."""


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    probe: Probe


@dataclass(frozen=True, slots=True)
class Verdict:
    ready: bool
    failing: Mapping[str, str]
    """Each part that does not work, and why."""
    checked: tuple[str, ...]
    """Every part that was probed."""


def judge(results: Mapping[str, str | None]) -> Verdict:
    """Pure: ready only when every probed part works."""
    failing = {name: reason for name, reason in results.items() if reason is not None}
    return Verdict(ready=not failing, failing=failing, checked=tuple(results))


class Readiness:
    """Thread-safe; ``verdict`` blocks at most about ``timeout_s`` (call it off the event loop)."""

    def __init__(
        self,
        checks: Sequence[Check],
        *,
        timeout_s: float = 2.0,
        cache_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.checks = tuple(checks)
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cached: tuple[float, Verdict] | None = None
        self._running: dict[str, Future[str | None]] = {}

    def cached(self) -> Verdict | None:
        """The last verdict while it is fresh, else None; never blocks."""
        cached = self._cached
        if cached is not None and self._monotonic() - cached[0] < self._cache_s:
            return cached[1]
        return None

    def verdict(self) -> Verdict:
        with self._lock:  # concurrent callers wait for the one probing, then share its verdict
            cached = self._cached
            if cached is not None and self._monotonic() - cached[0] < self._cache_s:
                return cached[1]
            verdict = judge(self._probe_all())
            self._cached = (self._monotonic(), verdict)
            return verdict

    def _probe_all(self) -> dict[str, str | None]:
        futures = {check.name: self._start(check) for check in self.checks}
        wait_futures(list(futures.values()), timeout=self._timeout_s)
        results: dict[str, str | None] = {}
        for name, future in futures.items():
            if future.done():
                results[name] = future.result()
            else:
                results[name] = f"no answer within {self._timeout_s:g} s"
        return results

    def _start(self, check: Check) -> Future[str | None]:
        running = self._running.get(check.name)
        if running is not None and not running.done():
            return running  # the last run still hangs: wait for it, do not start another
        future: Future[str | None] = Future()
        future.set_running_or_notify_cancel()

        def run() -> None:
            try:
                future.set_result(check.probe())
            except Exception as exc:  # a probe that raises says its part does not work
                future.set_result(f"{type(exc).__name__}: {str(exc)[:200]}")

        self._running[check.name] = future
        threading.Thread(target=run, name=f"readyz-{check.name}", daemon=True).start()
        return future


def state_db_probe(engine: Engine) -> Probe:
    """``SELECT 1`` on the state database (the engine's pool; PostgreSQL connections are pre-pinged)."""

    def probe() -> str | None:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return f"state database unreachable: {_first_line(exc)}"
        return None

    return probe


def lag_probe(lag_s: Callable[[], float | None], limit_s: float) -> Probe:
    """The engine keeps up while its findings queue is less than ``limit_s`` behind (None: not measured)."""

    def probe() -> str | None:
        lag = lag_s()
        if lag is None or lag <= limit_s:
            return None
        return f"engine {lag:.1f} s behind its findings (limit {limit_s:g} s)"

    return probe


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}"
