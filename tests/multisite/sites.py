"""Pieces of the multi-site tests: small site files made from the demo compound (the elevators and event
streams are ``tests.reliability.eventlog_harness``'s, given the site and the token)."""

from __future__ import annotations

from pathlib import Path

from facwatch.config import demo_site_text

ELEVATOR = "b1-elev-1"


def write_site(folder: Path, site_id: str) -> Path:
    """A site file: the demo compound under another id (its notifications land in ``folder``)."""
    text = demo_site_text().replace('id = "lakeside"', f'id = "{site_id}"', 1)
    text = text.replace("{data_dir}", str(folder))
    path = folder / f"{site_id}.toml"
    path.write_text(text, encoding="utf-8")
    return path
