"""Device presence: who is online. Pure: the subscriber feeds it, ``now_ms`` comes in as an argument.

An asset is online when its last status message said ``online`` (or it never sent one) and it has been
heard from (any message) within its expected interval times ``tolerance``. Its retained ``offline`` status,
usually its MQTT last will, makes it offline at once; any later message brings it back.

``changes(now_ms)`` turns that into findings for the alert engine: ``device.offline`` (active) when an asset
goes offline, and the same kind inactive (``device.online``, the alert clears) when it is back. An asset
never heard from is judged only after a grace period from the tracker's start (its interval × tolerance),
so a restart does not report the whole site offline before the devices had a chance to speak.

Deaf is not offline: while the gateway is disconnected from the broker (``changes(now_ms, connected=False)``)
no device is judged; a disconnection longer than ``broker_lost_s`` is one ``datapath.broker_lost`` finding
(ORANGE, on the ``datapath`` pseudo asset: staff only), cleared on reconnection. After a reconnection every
device that was online gets a fresh interval × tolerance before it can be judged stale again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from facwatch.model import DATAPATH_ASSET, Finding, Level, Site

OFFLINE = "device.offline"
BROKER_LOST = "datapath.broker_lost"


@dataclass(frozen=True, slots=True)
class AssetPresence:
    online: bool
    last_seen_ms: int | None
    """The last time any message of this asset arrived (receive time), None if never."""
    reported: str | None
    """The last status the device itself reported (``online``/``offline``), None if it never did."""


class PresenceTracker:
    """Thread-safe: the gateway's worker updates it, the API reads ``snapshot``."""

    def __init__(
        self,
        site: Site,
        tolerance: float = 3.0,
        started_ms: int | None = None,
        broker_lost_s: float = 30.0,
    ) -> None:
        self._site = site.id
        self._interval_ms = {asset.id: int(asset.interval_s * 1000) for asset in site.assets}
        self._tolerance = tolerance
        self._seen: dict[str, int] = {}
        self._refused: dict[str, tuple[int, str]] = {}
        """The last message of an asset that brought no usable reading (receive time, why), per asset."""
        self._reported: dict[str, tuple[bool, int]] = {}
        self._judged: dict[str, bool] = {}
        """The online state last turned into a finding (absent: not judged yet)."""
        self._started_ms = started_ms
        self._lost_ms = int(broker_lost_s * 1000)
        self._deaf_since_ms: int | None = None
        """When the broker connection was found lost, None while connected."""
        self._deaf_raised = False
        self._heard_floor_ms: int | None = None
        """The last reconnection: staleness of a device that was online counts from here."""
        self._lock = threading.Lock()

    def seen(self, asset: str, now_ms: int) -> None:
        with self._lock:
            self._seen[asset] = max(now_ms, self._seen.get(asset, now_ms))

    def refused(self, asset: str, now_ms: int, why: str) -> None:
        """A message of ``asset`` arrived, but every reading in it was refused (``why``: the dead letter's
        reason and detail). It does not count as being heard from: a device whose clock runs minutes ahead
        sends readings that no detector may take, so it is as blind as a silent one and goes offline."""
        with self._lock:
            self._refused[asset] = (now_ms, why)

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

    def changes(self, now_ms: int, connected: bool = True) -> list[Finding]:
        """Findings for the assets whose online state changed since the last call, and for the broker
        connection (``connected``: whether the gateway is connected to the broker now)."""
        out: list[Finding] = []
        with self._lock:
            if self._started_ms is None:
                self._started_ms = now_ms
            broker = self._judge_broker(connected, now_ms)
            if broker is not None:
                out.append(broker)
            if not connected:
                return out  # deaf: silence says nothing about the devices
            for asset, interval_ms in self._interval_ms.items():
                state = self._one(asset, interval_ms, now_ms)
                before = self._judged.get(asset)
                never_heard = state.last_seen_ms is None and state.reported is None
                grace_ms = interval_ms * self._tolerance
                if before is None and never_heard and now_ms - self._started_ms <= grace_ms:
                    continue  # never heard from, still within the grace period
                if before == state.online or (before is None and state.online):
                    self._judged[asset] = state.online
                    continue
                self._judged[asset] = state.online
                out.append(self._finding(asset, state, now_ms))
        return out

    def _judge_broker(self, connected: bool, now_ms: int) -> Finding | None:
        """The broker-lost finding when it opens or clears (called under the lock)."""
        if not connected:
            if self._deaf_since_ms is None:
                self._deaf_since_ms = now_ms
            deaf_ms = now_ms - self._deaf_since_ms
            if self._deaf_raised or deaf_ms < self._lost_ms:
                return None
            self._deaf_raised = True
            return self._broker_finding(
                True,
                f"MQTT broker unreachable for {deaf_ms / 1000:.0f} s: no telemetry arrives (devices are not judged offline meanwhile)",
                deaf_ms,
                now_ms,
            )
        if self._deaf_since_ms is None:
            return None
        deaf_ms, raised = now_ms - self._deaf_since_ms, self._deaf_raised
        self._deaf_since_ms, self._deaf_raised, self._heard_floor_ms = None, False, now_ms
        if not raised:
            return None
        return self._broker_finding(False, f"MQTT broker back after {deaf_ms / 1000:.0f} s", deaf_ms, now_ms)

    def _broker_finding(self, active: bool, summary: str, deaf_ms: int, now_ms: int) -> Finding:
        return Finding(
            site=self._site,
            asset=DATAPATH_ASSET,
            kind=BROKER_LOST,
            ts_ms=now_ms,
            active=active,
            level=Level.ORANGE,
            summary=summary,
            value=deaf_ms / 1000,
            detail={"down_s": deaf_ms / 1000},
        )

    def _finding(self, asset: str, state: AssetPresence, now_ms: int) -> Finding:
        refused = self._refused.get(asset)
        if state.online:
            summary = f"{asset} is online again"
        elif refused is not None and (state.last_seen_ms is None or refused[0] > state.last_seen_ms):
            since = "" if state.last_seen_ms is None else f" for {(now_ms - state.last_seen_ms) / 1000:.0f} s"
            summary = (
                f"{asset} sends only refused readings{since} ({refused[1]}): nothing it says can be judged"
            )
        elif state.reported == "offline":
            summary = f"{asset} reported offline (status / last will)"
        elif state.last_seen_ms is None:
            summary = f"{asset} has not been heard from"
        else:
            summary = f"{asset} silent for {(now_ms - state.last_seen_ms) / 1000:.0f} s"
        return Finding(
            site=self._site,
            asset=asset,
            kind=OFFLINE,
            ts_ms=now_ms,
            active=not state.online,
            level=Level.BLUE,
            summary=summary,
        )

    def _one(self, asset: str, interval_ms: int, now_ms: int) -> AssetPresence:
        last_seen = self._seen.get(asset)
        report = self._reported.get(asset)
        heard = last_seen
        if self._heard_floor_ms is not None and self._judged.get(asset, True):
            # Online when the broker went away: the time spent deaf does not count as the device's silence.
            heard = max(last_seen or self._heard_floor_ms, self._heard_floor_ms)
        fresh = heard is not None and now_ms - heard <= interval_ms * self._tolerance
        # An offline report counts until the device is heard from after it.
        said_offline = report is not None and not report[0] and (last_seen is None or last_seen <= report[1])
        return AssetPresence(
            online=fresh and not said_offline,
            last_seen_ms=last_seen,
            reported=None if report is None else ("online" if report[0] else "offline"),
        )
