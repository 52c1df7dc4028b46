"""Owners' chat as a sensor (docs/owners.md): masking on arrival, analysis of one message, the ladder."""
