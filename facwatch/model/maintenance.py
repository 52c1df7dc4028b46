"""Maintenance companies, plans and windows from the site file (docs/maintenance.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facwatch.model import Person


@dataclass(frozen=True, slots=True)
class Company:
    """A maintenance company: the party an asset's plan names and a ticket can be dispatched to."""

    id: str
    name: str
    contacts: tuple[Person, ...] = ()
    """Its on-call contacts (role ``company``), told through their own channels and language."""


@dataclass(frozen=True, slots=True)
class MaintenancePlan:
    asset: str
    interval_days: float
    """A visit at least this often (elevators: 15 days by default)."""
    company: str | None = None
    certificate: str = ""
    """The inspection certificate's number (elevators: inspected every year)."""
    certificate_expires: datetime | None = None
    """UTC midnight of the expiry date in the site's time zone; None: no certificate kept."""
    last_visit: datetime | None = None
    """The last visit before facwatch recorded any (the plan's clock starts there)."""


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A planned window of maintenance work on an asset, from the site file (``ref`` ``S-<n>``) or the
    API (``W-000001``)."""

    ref: str
    asset: str
    start: datetime
    end: datetime
    company: str | None = None
    what: str = ""

    def covers(self, asset: str, when: datetime) -> bool:
        return asset == self.asset and self.start <= when < self.end


@dataclass(frozen=True, slots=True)
class Maintenance:
    companies: tuple[Company, ...] = ()
    plans: tuple[MaintenancePlan, ...] = ()
    windows: tuple[MaintenanceWindow, ...] = ()

    def company(self, company_id: str | None) -> Company | None:
        return next((c for c in self.companies if c.id == company_id), None)

    def plan(self, asset: str) -> MaintenancePlan | None:
        return next((p for p in self.plans if p.asset == asset), None)
