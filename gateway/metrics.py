"""Prometheus metrics of the gateway, on the default registry (the API serves it at ``/metrics``).

Counters, never pre-computed rates: the readings rate is ``rate(facwatch_gateway_readings_stored_total[1m])``
in Prometheus, and the board's data-path panel computes it from two reads of the same counter. Every series
but the batch-time histogram carries the ``site`` label (one process serves several sites).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("facwatch_gateway_messages_total", "MQTT messages received", ["site", "stream"])
READINGS = Counter(
    "facwatch_gateway_readings_stored_total", "Readings written durably to the store", ["site"]
)
DEAD_LETTERS = Counter(
    "facwatch_gateway_dead_letters_total", "Messages or items set aside", ["site", "reason"]
)
QUEUE_DEPTH = Gauge("facwatch_gateway_queue_depth", "Messages between network thread and worker", ["site"])
WRITE_ERRORS = Counter("facwatch_gateway_write_errors_total", "Failed writes (retried)", ["site", "sink"])
CALLBACK_ERRORS = Counter("facwatch_gateway_callback_errors_total", "Exceptions raised by on_batch", ["site"])
BATCH_SECONDS = Histogram(
    "facwatch_gateway_batch_seconds",
    "Time to validate, store and acknowledge one batch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
