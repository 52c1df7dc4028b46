"""Errors of the product package.

FacwatchError
├── ConfigError        a settings or site file that cannot be used (names the file and the field)
└── StartupError       a part could not start (port taken, broker unreachable, bad credentials)
"""


class FacwatchError(Exception):
    """Base of every error facwatch raises on purpose."""


class ConfigError(FacwatchError):
    pass


class StartupError(FacwatchError):
    pass
