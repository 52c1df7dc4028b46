"""Errors of the telemetry storage.

FacwatchError (facwatch.errors)
├── IngestError
│   └── StoreUnavailable   the store cannot be written or read (disk full, file locked, server down);
│                          the gateway retries and acknowledges nothing meanwhile
└── BadQuery               a history query or a page cursor that cannot be answered (also a ValueError,
                           so the API can answer 422); defined in facwatch.errors, because a
                           ``TelemetryQuery`` (facwatch.model) refuses itself with it when built
"""

from __future__ import annotations

from facwatch.errors import BadQuery, FacwatchError

__all__ = ["BadQuery", "IngestError", "StoreUnavailable"]


class IngestError(FacwatchError):
    pass


class StoreUnavailable(IngestError):
    pass
