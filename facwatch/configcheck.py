"""``facwatch check``'s first half: the settings file and the site file it names, validated together.

``validate_files(path)`` returns the settings and the site when both are usable, and otherwise every problem of
both files, one line each (the settings' own problems do not hide the site file's: the site file is then found
by reading the settings file without validating it).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from facwatch.config import Settings, load_settings
from facwatch.errors import ConfigError, ConfigProblems
from facwatch.model import Site
from facwatch.sitefile import load_site


def validate_files(path: Path) -> tuple[Settings | None, Site | None, tuple[str, ...]]:
    lines: list[str] = []
    settings: Settings | None = None
    site: Site | None = None
    try:
        settings = load_settings(path)
        source, data_dir = settings.site, settings.data_dir
    except ConfigError as exc:
        lines.extend(_lines(exc))
        source, data_dir = _named_in(path)
    try:
        site = load_site(source, variables={"data_dir": str(data_dir.resolve())})
    except ConfigError as exc:
        lines.extend(_lines(exc))
    return settings, site, tuple(lines)


def _lines(exc: ConfigError) -> tuple[str, ...]:
    return exc.lines if isinstance(exc, ConfigProblems) else (str(exc),)


def _named_in(path: Path) -> tuple[str, Path]:
    """The site file and data directory a settings file names (defaults where it names none or is unreadable)."""
    defaults = Settings.model_fields
    site, data_dir = str(defaults["site"].default), Path(defaults["data_dir"].default)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return site, data_dir
    named, folder = raw.get("site"), raw.get("data_dir")
    return (named if isinstance(named, str) else site), (
        Path(folder) if isinstance(folder, str) else data_dir
    )
