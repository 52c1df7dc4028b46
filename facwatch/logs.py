"""Structured logging with structlog: readable on a terminal, JSON lines in production.

Credentials never reach a log line: every string value (the message, fields, exception text) passes
``redact``, which masks the user-info of URLs (``mqtt://user:pass@host`` -> ``mqtt://***@host``) and the
values of secret-looking query parameters (``?access_token=...``, ``key=``, ``secret=``, ``password=``).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@?#]+@")
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;](?:access_token|token|key|apikey|api_key|secret|password|pass|sig|signature)=)[^&\s#]+",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with URL credentials and secret query values masked."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    return _SECRET_PARAM.sub(r"\g<name>***", text)


def redact_fields(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: ``redact`` over every string field."""
    for name, value in event.items():
        if isinstance(value, str):
            event[name] = redact(value)
    return event


class RedactingFilter(logging.Filter):
    """The same masking for libraries that log through the standard library (uvicorn, httpx, alembic)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure(fmt: str = "console", level: str = "info") -> None:
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact_fields,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries that log through the standard library (uvicorn, alembic) stay quiet below warnings.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    for noisy in ("uvicorn.access", "alembic", "amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
