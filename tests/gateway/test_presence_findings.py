"""Presence becomes findings: device.offline when a device goes quiet or says so, cleared when it is back."""

from __future__ import annotations

from facwatch.config import load_site
from gateway.presence import OFFLINE, PresenceTracker

SITE = load_site("demo", {"data_dir": "unused"})
ELEV = SITE.assets[0]
STALE_MS = int(ELEV.interval_s * 1000 * 3)  # interval × the default tolerance


def changes(tracker: PresenceTracker, now_ms: int) -> list[tuple[str, bool]]:
    return [(f.asset, f.active) for f in tracker.changes(now_ms) if f.asset == ELEV.id]


def test_a_device_that_goes_silent_is_offline_and_back_online_when_heard_again() -> None:
    tracker = PresenceTracker(SITE, started_ms=0)
    tracker.seen(ELEV.id, 1_000)
    assert changes(tracker, 1_000) == []  # online from the start: nothing to say
    assert changes(tracker, 1_000 + STALE_MS) == []  # exactly at the limit: still online
    assert changes(tracker, 1_001 + STALE_MS) == [(ELEV.id, True)]  # silent too long: offline
    assert changes(tracker, 5_000 + STALE_MS) == []  # said once, not again
    tracker.seen(ELEV.id, 6_000 + STALE_MS)
    assert changes(tracker, 6_000 + STALE_MS) == [(ELEV.id, False)]  # back: the finding clears


def test_a_last_will_makes_it_offline_at_once() -> None:
    tracker = PresenceTracker(SITE, started_ms=0)
    tracker.seen(ELEV.id, 1_000)
    assert changes(tracker, 1_000) == []
    tracker.reported(ELEV.id, False, 1_100)
    findings = [f for f in tracker.changes(1_100) if f.asset == ELEV.id]
    assert [(f.kind, f.active, f.level.value) for f in findings] == [(OFFLINE, True, "blue")]
    assert "last will" in findings[0].summary


def test_devices_never_heard_from_get_a_grace_period_after_start() -> None:
    tracker = PresenceTracker(SITE, started_ms=0)
    assert tracker.changes(STALE_MS) == []  # within the grace period: no site-wide offline storm
    late = tracker.changes(STALE_MS + 1)
    assert ELEV.id in {f.asset for f in late} and all(f.active for f in late)
