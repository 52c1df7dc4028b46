"""Presence becomes findings: device.offline when a device goes quiet or says so, cleared when it is back."""

from __future__ import annotations

from facwatch.config import load_site
from gateway.presence import BROKER_LOST, OFFLINE, PresenceTracker

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


# --- a lost broker: one data-path finding, no device judged while deaf -----------------------------------

LOST_MS = 30_000  # the default broker_lost_s


def broker(tracker: PresenceTracker, now_ms: int, connected: bool) -> list[tuple[str, str, bool]]:
    return [(f.asset, f.kind, f.active) for f in tracker.changes(now_ms, connected=connected)]


def heard_from_all(tracker: PresenceTracker, now_ms: int) -> None:
    for asset in SITE.assets:
        tracker.seen(asset.id, now_ms)


def test_a_lost_broker_is_one_datapath_finding_and_no_device_goes_offline() -> None:
    tracker = PresenceTracker(SITE, started_ms=0)
    heard_from_all(tracker, 1_000)
    assert broker(tracker, 1_000, True) == []
    lost_at = 2_000
    # Deaf for far longer than any device's staleness limit: still no device.offline.
    assert broker(tracker, lost_at, False) == []  # the disconnection is noted, within the grace
    assert broker(tracker, lost_at + LOST_MS - 1, False) == []  # just inside the grace
    assert broker(tracker, lost_at + LOST_MS, False) == [("datapath", BROKER_LOST, True)]  # one finding
    assert broker(tracker, lost_at + 10 * LOST_MS, False) == []  # said once, not again
    back = lost_at + 10 * LOST_MS + 1
    assert broker(tracker, back, True) == [("datapath", BROKER_LOST, False)]  # cleared on reconnection


def test_staleness_counts_afresh_after_the_reconnection() -> None:
    tracker = PresenceTracker(SITE, started_ms=0)
    heard_from_all(tracker, 1_000)
    broker(tracker, 1_000, True)
    broker(tracker, 2_000, False)
    assert broker(tracker, 2_000 + LOST_MS, False) == [("datapath", BROKER_LOST, True)]
    back = 2_000 + 5 * LOST_MS
    assert broker(tracker, back, True) == [("datapath", BROKER_LOST, False)]
    assert changes(tracker, back + STALE_MS) == []  # a full staleness window after the reconnection: online
    assert changes(tracker, back + STALE_MS + 1) == [(ELEV.id, True)]  # still silent after it: offline


def test_a_short_blip_says_nothing() -> None:
    tracker = PresenceTracker(SITE, started_ms=0)
    heard_from_all(tracker, 1_000)
    broker(tracker, 1_000, True)
    assert broker(tracker, 2_000, False) == []
    assert broker(tracker, 2_000 + LOST_MS - 1, False) == []
    assert broker(tracker, 2_000 + LOST_MS, True) == []  # back within the grace: no finding to clear


def test_a_device_offline_before_the_loss_stays_offline_after_it() -> None:
    tracker = PresenceTracker(SITE, started_ms=0)
    heard_from_all(tracker, 1_000)
    tracker.reported(ELEV.id, False, 1_500)  # its last will
    assert changes(tracker, 1_500) == [(ELEV.id, True)]
    broker(tracker, 2_000, False)
    broker(tracker, 2_000 + 2 * LOST_MS, True)
    assert changes(tracker, 3_000 + 2 * LOST_MS) == []  # no false "online again"


def test_a_device_whose_every_reading_is_refused_goes_offline_and_says_why() -> None:
    """Refused messages (every reading a dead letter) are not the device being heard from."""
    tracker = PresenceTracker(SITE, started_ms=0)
    tracker.seen(ELEV.id, 1_000)
    assert changes(tracker, 1_000) == []
    for now in range(2_000, 2_000 + STALE_MS + 1_000, 1_000):  # its clock now runs 90 s ahead
        tracker.refused(ELEV.id, now, "future_timestamp: timestamp 90 s ahead of the clock")
    findings = [f for f in tracker.changes(1_001 + STALE_MS) if f.asset == ELEV.id]
    assert [(f.kind, f.active) for f in findings] == [(OFFLINE, True)]
    assert "refused" in findings[0].summary and "future_timestamp" in findings[0].summary
    tracker.seen(ELEV.id, 9_000 + STALE_MS)  # a reading that counts: back online
    assert changes(tracker, 9_000 + STALE_MS) == [(ELEV.id, False)]
