"""Prometheus metrics of the telemetry data path, on the default registry (the API serves ``/metrics``).

The gateway's own (queue depth, messages, dead letters per reason, readings stored) are in gateway.metrics.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

STORE_WRITE_ERRORS = Counter(
    "facwatch_store_write_errors_total",
    "Telemetry store writes that failed (the batch was spooled or retried)",
)
SPOOL_BYTES = Gauge("facwatch_spool_bytes", "Bytes of readings waiting in the durable spool")
SPOOL_BATCHES = Gauge("facwatch_spool_batches", "Batches waiting in the durable spool")
SPOOL_READINGS = Gauge("facwatch_spool_readings", "Readings waiting in the durable spool")
SPOOL_LIMIT_BYTES = Gauge("facwatch_spool_limit_bytes", "The spool's configured size bound")
SPOOLED = Counter("facwatch_spool_spooled_readings_total", "Readings put in the spool")
REPLAYED = Counter(
    "facwatch_spool_replayed_readings_total", "Readings replayed from the spool into the store"
)
SPOOL_FULL = Counter(
    "facwatch_spool_full_total", "Batches refused by a full spool (the gateway stops acknowledging)"
)
