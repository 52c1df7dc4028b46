"""Sends that cannot hold anyone up: each in its own thread, with a hard deadline and slots per target.

A *target* is where a send goes on the network: the URL's scheme, host and port (``json://10.0.0.5:8080``).
At most ``per_target`` sends run at once for one target, and at most ``total`` in all. ``start`` either
starts the send at once in a thread of its own, or refuses (``None``: the target's slots are busy, or the
sender is stopping): the caller then knows the send *never started*. A started send is waited for until its
deadline and no longer: past it the caller abandons it (its outcome is unknown) and goes on; the thread
keeps its target's slot until it really ends, so a target that hangs can never have more than
``per_target`` threads stuck on it, and it never takes another target's slot.

Nothing here knows the outbox or the database; ``alerts.notify.dispatcher`` and ``alerts.notify.direct``
use it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from alerts.notify.audiences import Outgoing
from alerts.notify.channels import DeliveryFailed
from alerts.notify.delivery import Outcome

Sender = Callable[[str, str, str, Outgoing], None]
"""``send(url, title, body, outgoing)``: deliver one message to one target or raise ``DeliveryFailed``."""


def target_of(url: str) -> str:
    """The network target of an apprise URL: ``scheme://host:port`` (no path, user or secrets)."""
    scheme, sep, _ = url.partition("://")
    if not sep:
        return url.split(":", 1)[0] or "?"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{scheme}://?"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    error: str | None = None


class Send:
    """One send in flight: finished, or still running before or after its deadline."""

    def __init__(self, url: str, deadline_s: float) -> None:
        self.url = url
        self.target = target_of(url)
        self.deadline_s = deadline_s
        self.started_at = time.monotonic()
        self.ended_at: float | None = None
        self.done = threading.Event()
        self.error: str | None = None

    @property
    def deadline(self) -> float:
        return self.started_at + self.deadline_s

    def result(self, at: float | None = None) -> Result | None:
        """The outcome at monotonic time ``at``: None while it runs within its deadline."""
        if self.done.is_set():
            return Result(Outcome.SENT) if self.error is None else Result(Outcome.REFUSED, self.error)
        if (time.monotonic() if at is None else at) < self.deadline:
            return None
        return Result(
            Outcome.UNKNOWN,
            f"outcome unknown: no answer within the {self.deadline_s:g} s deadline (abandoned mid-send)",
        )


class IsolatedSender:
    """Runs sends in threads of their own, bounded per target and in all; see the module's docstring."""

    def __init__(
        self, send: Sender, *, per_target: int = 2, total: int = 64, deadline_s: float = 10.0
    ) -> None:
        self.send = send
        self.per_target = per_target
        self.total = total
        self.deadline_s = deadline_s
        self._busy: dict[str, int] = {}
        self._running = 0
        self._stopping = False
        self._changed = threading.Condition()

    def has_room(self, url: str) -> bool:
        with self._changed:
            return self._room(target_of(url))

    def _room(self, target: str) -> bool:
        return (
            not self._stopping and self._running < self.total and self._busy.get(target, 0) < self.per_target
        )

    def busy(self, url: str) -> int:
        """Threads that still hold ``url``'s target (running, or abandoned and not yet ended)."""
        with self._changed:
            return self._busy.get(target_of(url), 0)

    def start(
        self, url: str, title: str, body: str, outgoing: Outgoing, *, deadline_s: float | None = None
    ) -> Send | None:
        """Start the send now in a thread of its own; None when it cannot start (it never began)."""
        target = target_of(url)
        with self._changed:
            if not self._room(target):
                return None
            self._busy[target] = self._busy.get(target, 0) + 1
            self._running += 1
        handle = Send(url, self.deadline_s if deadline_s is None else deadline_s)
        thread = threading.Thread(
            target=self._run, args=(handle, title, body, outgoing), name=f"send {target}", daemon=True
        )
        thread.start()
        return handle

    def _run(self, handle: Send, title: str, body: str, outgoing: Outgoing) -> None:
        try:
            self.send(handle.url, title, body, outgoing)
        except DeliveryFailed as exc:
            handle.error = str(exc) or "refused"
        except Exception as exc:  # a plugin's bug must not stop the outbox
            handle.error = f"{type(exc).__name__}: {exc}"
        finally:
            with self._changed:
                self._busy[handle.target] -= 1
                if not self._busy[handle.target]:
                    del self._busy[handle.target]
                self._running -= 1
                handle.ended_at = time.monotonic()
                handle.done.set()
                self._changed.notify_all()

    def wait(
        self, sends: Iterable[Send], until: float, *, first: bool = False, any_sent: bool = False
    ) -> None:
        """Wait until every send has ended or passed its deadline, or until monotonic time ``until``;
        with ``first``, stop as soon as one of them has; with ``any_sent``, as soon as one was delivered."""
        pending = list(sends)
        with self._changed:
            while True:
                now = time.monotonic()
                if any_sent and any(s.done.is_set() and s.error is None for s in pending):
                    return
                waiting = [s for s in pending if not s.done.is_set() and s.deadline > now]
                if not waiting or now >= until or (first and len(waiting) < len(pending)):
                    return
                self._changed.wait(min(until, *(s.deadline for s in waiting)) - now)

    def stop(self) -> None:
        """Start nothing more (what runs goes on until it ends or is abandoned)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()


__all__ = ["IsolatedSender", "Result", "Send", "Sender", "target_of"]
