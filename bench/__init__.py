"""Benchmarks: plain scripts, run as ``.venv/bin/python -m bench.<name>``; not collected by pytest."""
