"""The hand-off between the gateway's judge and its storer: a FIFO of judged batches, bounded in messages.

    judge worker: validate ─► on_batch (rules) ─► Handoff.put ─► storer: sink ─► dead letters ─► ack

The judge runs ahead of storage by at most ``limit`` messages: while the store and the spool cannot take a
batch, the batches behind it are still judged (an entrapment is seen), and only once ``limit`` messages
wait unacknowledged does the judge wait too (the broker then holds the rest: back-pressure).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Handoff(Generic[T]):
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be positive")
        self.limit = limit
        self._items: deque[tuple[T, int]] = deque()
        self._count = 0
        self._closed = False
        self._cond = threading.Condition()

    def __len__(self) -> int:
        """Messages waiting."""
        return self._count

    def put(self, item: T, size: int, give_up: threading.Event) -> bool:
        """Append ``item`` of ``size`` messages; waits while full (an item always fits an empty hand-off).

        False (nothing appended) once ``give_up`` is set while waiting.
        """
        with self._cond:
            while self._count and self._count + size > self.limit:
                if give_up.is_set():
                    return False
                self._cond.wait(0.1)
            self._items.append((item, size))
            self._count += size
            self._cond.notify_all()
            return True

    def get(self, give_up: threading.Event) -> T | None:
        """The oldest item; None once closed and empty, or once ``give_up`` is set."""
        with self._cond:
            while not self._items:
                if self._closed or give_up.is_set():
                    return None
                self._cond.wait(0.1)
            item, size = self._items.popleft()
            self._count -= size
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more items: ``get`` returns None once the rest is taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
