"""Broker URLs: ``mqtt://host[:port][?protocol=5|3.1.1|auto]`` and ``mqtts://`` (TLS, port 8883 by default).

``protocol=auto`` (the default) tries MQTT 5 and falls back to 3.1.1 when the broker refuses version 5
(the embedded amqtt broker speaks 3.1.1 only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from gateway.errors import BrokerUrlError

Protocol = Literal["5", "3.1.1", "auto"]
_PROTOCOLS: dict[str, Protocol] = {"5": "5", "3.1.1": "3.1.1", "auto": "auto", "311": "3.1.1"}


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool
    protocol: Protocol

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerUrl:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise BrokerUrlError(f"broker URL must start with mqtt:// or mqtts://, got {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    if not parts.hostname:
        raise BrokerUrlError(f"broker URL has no host: {url!r}")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise BrokerUrlError(f"broker URL has a bad port: {url!r}") from None
    wanted = parse_qs(parts.query).get("protocol", ["auto"])[-1]
    if wanted not in _PROTOCOLS:
        raise BrokerUrlError(f"protocol must be 5, 3.1.1 or auto, got {wanted!r}")
    return BrokerUrl(host=parts.hostname, port=port, tls=tls, protocol=_PROTOCOLS[wanted])
