"""Errors of the simulator.

ConfigError (facwatch.errors)
└── ScenarioError     a scenario that cannot be used: file, fault entry and what is wrong
StartupError (facwatch.errors)
└── BrokerUnreachable the publisher could not connect its devices to the broker in time
"""

from __future__ import annotations

from facwatch.errors import ConfigError, StartupError


class ScenarioError(ConfigError):
    pass


class BrokerUnreachable(StartupError):
    pass
