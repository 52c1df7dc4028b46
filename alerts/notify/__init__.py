"""Notifications: the outbox, audiences, message templates, channels and apprise delivery."""
