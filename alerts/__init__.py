"""Detectors, rules, the alert lifecycle, tickets and SLA clocks, escalation and notifications."""
