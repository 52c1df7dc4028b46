"""Errors of the product package.

FacwatchError
├── ConfigError        a settings or site file that cannot be used (names the file and the field)
│   └── ConfigProblems every problem of a file at once, one line each (``facwatch check`` prints them all)
├── StartupError       a part could not start (port taken, broker unreachable, bad credentials)
└── BadQuery           a question that cannot be answered: a telemetry history query (``TelemetryQuery``
                       refuses itself when built) or a page cursor; also a ValueError, so the API answers 422
"""


class FacwatchError(Exception):
    """Base of every error facwatch raises on purpose."""


class ConfigError(FacwatchError):
    pass


class ConfigProblems(ConfigError):
    """Several problems found together; ``lines`` holds one per problem, each naming its file and key."""

    def __init__(self, lines: tuple[str, ...]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class StartupError(FacwatchError):
    pass


class BadQuery(FacwatchError, ValueError):
    pass
