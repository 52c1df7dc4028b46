"""The MQTT topic scheme (ARCHITECTURE.md, MQTT contract), built and parsed here and nowhere else.

fw/{site}/{kind}/{asset}/telemetry   readings (QoS 1)
fw/{site}/{kind}/{asset}/status      retained online / offline, the device's last will
fw/{site}/{kind}/{asset}/event       discrete events (alarm button, fault codes)
fw/{site}/alerts/{asset}             alert changes that facwatch publishes
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "fw"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Stream(StrEnum):
    TELEMETRY = "telemetry"
    STATUS = "status"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    site: str
    kind: str
    asset: str
    stream: Stream

    def __str__(self) -> str:
        return f"{PREFIX}/{self.site}/{self.kind}/{self.asset}/{self.stream}"


class TopicError(ValueError):
    """A topic outside the scheme; the message says what is wrong."""


def telemetry(site: str, kind: str, asset: str) -> str:
    return str(DeviceTopic(site, kind, asset, Stream.TELEMETRY))


def status(site: str, kind: str, asset: str) -> str:
    return str(DeviceTopic(site, kind, asset, Stream.STATUS))


def event(site: str, kind: str, asset: str) -> str:
    return str(DeviceTopic(site, kind, asset, Stream.EVENT))


def alerts(site: str, asset: str) -> str:
    return f"{PREFIX}/{site}/alerts/{asset}"


def subscriptions(site: str = "+") -> list[str]:
    """Topic filters the gateway subscribes to: every device stream of one site (or of all sites)."""
    return [f"{PREFIX}/{site}/+/+/{stream}" for stream in Stream]


def parse(topic: str) -> DeviceTopic:
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != PREFIX:
        raise TopicError(f"not a device topic fw/{{site}}/{{kind}}/{{asset}}/{{stream}}: {topic[:200]!r}")
    _, site, kind, asset, stream = parts
    for name, value in (("site", site), ("kind", kind), ("asset", asset)):
        if not _ID.match(value):
            raise TopicError(f"bad {name} id {value[:80]!r} in topic")
    try:
        return DeviceTopic(site, kind, asset, Stream(stream))
    except ValueError:
        raise TopicError(f"unknown stream {stream[:40]!r}; expected telemetry, status or event") from None
