"""Errors of the simulator.

ConfigError (facwatch.errors)
├── ScenarioError     a scenario that cannot be used: file, fault entry and what is wrong
└── LoadError         load-mode settings that cannot work (no assets, a QoS other than 0 or 1, ...)
StartupError (facwatch.errors)
└── BrokerUnreachable the publisher could not connect its devices to the broker in time
"""

from __future__ import annotations

from facwatch.errors import ConfigError, StartupError


class ScenarioError(ConfigError):
    pass


class LoadError(ConfigError):
    pass


class BrokerUnreachable(StartupError):
    pass
