"""What owners report and the deadlines each category of report gets (docs/owners.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

Category = Literal["leak", "elevator", "power", "noise", "cleaning", "security", "other"]
CATEGORIES: tuple[str, ...] = get_args(Category)
"""What an owner may report, on the report page and through ``POST /tickets`` (the order of its menu)."""
OLD_CATEGORIES = {"water": "leak", "fire": "security"}
"""Names ``POST /tickets`` took before the seven categories: still accepted, stored under the new name."""


@dataclass(frozen=True, slots=True)
class CategorySla:
    """Deadlines of an owner-reported ticket of one category, in seconds from the report. ``acknowledge_s``
    None: the settings' ``sla.owner_acknowledge_s`` (every report is acknowledged); the others None: no clock."""

    acknowledge_s: float | None = None
    on_site_s: float | None = None
    fixed_s: float | None = None


_HOUR = 3600.0
DEFAULT_OWNER_SLA: Mapping[str, CategorySla] = {
    "leak": CategorySla(on_site_s=0.5 * _HOUR, fixed_s=24 * _HOUR),
    "elevator": CategorySla(on_site_s=0.5 * _HOUR, fixed_s=24 * _HOUR),
    "power": CategorySla(on_site_s=0.5 * _HOUR, fixed_s=24 * _HOUR),
    "security": CategorySla(acknowledge_s=300.0, on_site_s=0.25 * _HOUR),
    "noise": CategorySla(fixed_s=72 * _HOUR),
    "cleaning": CategorySla(fixed_s=24 * _HOUR),
    "other": CategorySla(),
}
"""Defaults from practice: a leak, a stopped elevator or a power cut gets an engineer on site within 30 minutes."""


@dataclass(frozen=True, slots=True)
class OwnerSlaPolicy:
    """The site file's ``[owner_sla.<category>]`` tables over ``DEFAULT_OWNER_SLA`` (docs/owners.md); a category
    without one: ``other``."""

    categories: Mapping[str, CategorySla] = field(default_factory=lambda: dict(DEFAULT_OWNER_SLA))

    def of(self, category: str) -> CategorySla:
        return self.categories.get(category) or self.categories.get("other") or CategorySla()
