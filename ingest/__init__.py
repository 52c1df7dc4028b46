"""Telemetry storage: the embedded SQLite store, dead letters, and (later) InfluxDB with a durable spool."""
