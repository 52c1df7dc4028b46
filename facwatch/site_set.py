"""The sites one process serves: ``site``, ``sites`` and every ``*.toml`` of ``sites_dir`` in the settings.

    site = "/etc/facwatch/site.toml"          # one compound (the default: the bundled demo)
    sites = ["/etc/facwatch/a.toml", ...]     # several
    sites_dir = "/etc/facwatch/sites"         # a folder of them (name order)

``site`` counts when it is set explicitly, or when neither ``sites`` nor ``sites_dir`` is (so a settings file
naming only ``sites`` does not also serve the demo). Every file is validated as a whole before anything
starts, and two files with the same site id are an error naming both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from facwatch.config import Settings, load_site
from facwatch.errors import ConfigError
from facwatch.model import Site


@dataclass(frozen=True, slots=True)
class SiteSource:
    """Where a site comes from: a file (or ``demo``), and whether ``site =`` named it."""

    source: str
    single: bool
    """Named by ``site =``: its local files keep the one-site names (``findings.db``, ``spool.db``), so a
    process that grows from one site to several finds what the one-site process left queued."""


@dataclass(frozen=True, slots=True)
class LoadedSite:
    site: Site
    source: SiteSource


def site_sources(settings: Settings) -> list[SiteSource]:
    """The site files the settings name, in order, each once (the same file named twice counts once)."""
    explicit = "site" in settings.model_fields_set
    named: list[SiteSource] = []
    if explicit or (not settings.sites and settings.sites_dir is None):
        named.append(SiteSource(settings.site, single=True))
    named += [SiteSource(source, single=False) for source in settings.sites]
    if settings.sites_dir is not None:
        folder = settings.sites_dir
        if not folder.is_dir():
            raise ConfigError(f"sites_dir {folder}: no such folder")
        named += [SiteSource(str(path), single=False) for path in sorted(folder.glob("*.toml"))]
    if not named:
        raise ConfigError(f"no site files: sites_dir {settings.sites_dir} holds no *.toml")
    seen: set[str] = set()
    unique: list[SiteSource] = []
    for item in named:
        key = item.source if item.source == "demo" else str(Path(item.source).resolve())
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def load_sites(settings: Settings, variables: dict[str, str] | None = None) -> list[LoadedSite]:
    """Every site the settings name, validated; a ``ConfigError`` names the file, or both files of a
    duplicate site id."""
    loaded: list[LoadedSite] = []
    origin: dict[str, str] = {}
    for source in site_sources(settings):
        site = load_site(source.source, variables=variables)
        if site.id in origin:
            raise ConfigError(
                f"site id {site.id!r} is in both {origin[site.id]} and {source.source}: site ids must be unique"
            )
        origin[site.id] = source.source
        loaded.append(LoadedSite(site, source))
    return loaded
