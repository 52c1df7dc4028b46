"""A direct line to a person, outside the outbox and the state database.

Used when the outbox cannot be trusted to carry a message, e.g. by the engine's intake while the state
database is down (the fallback person must hear of the outage within 60 s). The message goes to every URL
at once through the same isolated sender as the outbox (a thread per send, a hard deadline, slots per
target), so a dead or hanging channel costs nothing but its own deadline. Nothing is stored and nothing is
retried: the caller decides whether and when to say it again.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence

import structlog

from alerts.notify.audiences import FALLBACK, Outgoing
from alerts.notify.channels import apprise_send
from alerts.notify.isolation import IsolatedSender, Sender
from alerts.notify.undelivered import safe

log = structlog.get_logger("alerts.notify.direct")

_shared: IsolatedSender | None = None
_shared_lock = threading.Lock()


def _sender() -> IsolatedSender:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = IsolatedSender(apprise_send, per_target=2, total=16)
        return _shared


def tell_directly(
    urls: Sequence[str],
    title: str,
    body: str,
    *,
    deadline_s: float = 10.0,
    send: Sender | None = None,
) -> bool:
    """Send ``title``/``body`` to every URL at once; True as soon as one took it, False if none did
    within ``deadline_s`` (refused, unreachable, busy or too slow). ``send`` replaces apprise (tests)."""
    targets = tuple(dict.fromkeys(urls))
    if not targets:
        return False
    sender = IsolatedSender(send, per_target=2, total=16) if send is not None else _sender()
    key = "direct:" + hashlib.sha256(f"{title}\n{body}".encode()).hexdigest()[:16]
    outgoing = Outgoing(key, "", None, FALLBACK, "", targets, title, body)
    started = time.monotonic()
    sends = []
    for url in targets:
        handle = sender.start(url, title, body, outgoing, deadline_s=deadline_s)
        if handle is None:
            log.warning("direct message not started: the target is busy", target=safe(url))
        else:
            sends.append(handle)
    sender.wait(sends, started + deadline_s, any_sent=True)
    took = [s for s in sends if s.done.is_set() and s.error is None]
    for handle in sends:
        result = handle.result()
        if result is not None and result.error is not None:
            log.warning("direct message failed", target=safe(handle.url), error=result.error)
    return bool(took)


__all__ = ["tell_directly"]
