"""Device presence: who is online. Pure: the subscriber feeds it, ``now_ms`` comes in as an argument.

An asset is online when its last status message said ``online`` (or it never sent one) and it has been
heard from (any message) within its expected interval times ``tolerance``. Its retained ``offline`` status,
usually its MQTT last will, makes it offline at once; any later message brings it back.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from facwatch.model import Site


@dataclass(frozen=True, slots=True)
class AssetPresence:
    online: bool
    last_seen_ms: int | None
    """The last time any message of this asset arrived (receive time), None if never."""
    reported: str | None
    """The last status the device itself reported (``online``/``offline``), None if it never did."""


class PresenceTracker:
    """Thread-safe: the gateway's worker updates it, the API reads ``snapshot``."""

    def __init__(self, site: Site, tolerance: float = 3.0) -> None:
        self._interval_ms = {asset.id: int(asset.interval_s * 1000) for asset in site.assets}
        self._tolerance = tolerance
        self._seen: dict[str, int] = {}
        self._reported: dict[str, tuple[bool, int]] = {}
        self._lock = threading.Lock()

    def seen(self, asset: str, now_ms: int) -> None:
        with self._lock:
            self._seen[asset] = max(now_ms, self._seen.get(asset, now_ms))

    def reported(self, asset: str, online: bool, now_ms: int) -> None:
        with self._lock:
            self._reported[asset] = (online, now_ms)
            if online:
                self._seen[asset] = max(now_ms, self._seen.get(asset, now_ms))

    def snapshot(self, now_ms: int) -> dict[str, AssetPresence]:
        with self._lock:
            return {
                asset: self._one(asset, interval, now_ms) for asset, interval in self._interval_ms.items()
            }

    def _one(self, asset: str, interval_ms: int, now_ms: int) -> AssetPresence:
        last_seen = self._seen.get(asset)
        report = self._reported.get(asset)
        fresh = last_seen is not None and now_ms - last_seen <= interval_ms * self._tolerance
        # An offline report counts until the device is heard from after it.
        said_offline = report is not None and not report[0] and (last_seen is None or last_seen <= report[1])
        return AssetPresence(
            online=fresh and not said_offline,
            last_seen_ms=last_seen,
            reported=None if report is None else ("online" if report[0] else "offline"),
        )
