"""Presence tracking and broker URLs: small pure pieces of the gateway."""

from __future__ import annotations

import pytest

from facwatch.config import load_site
from gateway.broker_url import BrokerUrl, parse_broker_url
from gateway.errors import BrokerUrlError
from gateway.presence import PresenceTracker

SITE = load_site("demo", {"data_dir": "unused"})  # assets report every 1 s by default


def test_an_asset_never_heard_from_is_offline() -> None:
    snapshot = PresenceTracker(SITE).snapshot(10_000)
    assert not snapshot["b1-elev-1"].online
    assert snapshot["b1-elev-1"].last_seen_ms is None


def test_silence_longer_than_interval_times_tolerance_means_offline() -> None:
    tracker = PresenceTracker(SITE, tolerance=3.0)
    tracker.seen("b1-elev-1", 10_000)
    assert tracker.snapshot(12_900)["b1-elev-1"].online  # 2.9 s of silence: fine
    assert not tracker.snapshot(13_100)["b1-elev-1"].online  # 3.1 s: offline


def test_offline_status_counts_until_the_device_is_heard_again() -> None:
    tracker = PresenceTracker(SITE)
    tracker.seen("b1-pump-1", 10_000)
    tracker.reported("b1-pump-1", False, 10_100)  # its last will
    assert not tracker.snapshot(10_200)["b1-pump-1"].online
    assert tracker.snapshot(10_200)["b1-pump-1"].reported == "offline"
    tracker.seen("b1-pump-1", 10_300)  # telemetry again: back
    assert tracker.snapshot(10_400)["b1-pump-1"].online


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # plain MQTT on the default port
        ("mqtt://broker", BrokerUrl("broker", 1883, False, "auto")),
        # TLS defaults to 8883
        ("mqtts://broker", BrokerUrl("broker", 8883, True, "auto")),
        # an explicit port and protocol
        ("mqtt://127.0.0.1:1999?protocol=3.1.1", BrokerUrl("127.0.0.1", 1999, False, "3.1.1")),
        # MQTT 5 only
        ("mqtt://h:1?protocol=5", BrokerUrl("h", 1, False, "5")),
    ],
)
def test_broker_urls(url: str, expected: BrokerUrl) -> None:
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://broker",  # not MQTT
        "mqtt://",  # no host
        "mqtt://h:notaport",  # bad port
        "mqtt://h?protocol=4",  # unknown protocol
    ],
)
def test_bad_broker_urls(url: str) -> None:
    with pytest.raises(BrokerUrlError):
        parse_broker_url(url)
