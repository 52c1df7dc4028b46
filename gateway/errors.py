"""Errors of the gateway.

FacwatchError (facwatch.errors)
├── ConfigError
│   └── BrokerUrlError     an MQTT URL the gateway cannot use (scheme, port, protocol)
├── StartupError           the broker did not answer in time, refused the credentials or the subscription
└── GatewayError
    └── NotRunning         publish() on a gateway that is not started
"""

from __future__ import annotations

from facwatch.errors import ConfigError, FacwatchError


class BrokerUrlError(ConfigError):
    pass


class GatewayError(FacwatchError):
    pass


class NotRunning(GatewayError):
    pass
