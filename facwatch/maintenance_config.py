"""The site file's maintenance sections (docs/maintenance.md): ``[[companies]]``, ``[[maintenance_plans]]``
and ``[[maintenance_windows]]``, as pydantic models that refuse unknown keys, turned into domain values.

``facwatch/config.py`` calls ``parse_maintenance`` once; everything else reads ``Site.maintenance``.

```toml
[[companies]]
id = "sh-lift"
name = "上海某电梯维保有限公司 Shanghai Lift Service"
contacts = [{ id = "sh-lift-duty", name = "值班 duty desk", notify = ["json://..."], lang = "zh" }]

[[maintenance_plans]]
asset = "b1-elev-1"            # interval_days defaults: elevator 15, pump 30, power 90
company = "sh-lift"
certificate = "TSX-2025-0113"
certificate_expires = 2026-01-31
last_visit = 2025-02-20

[[maintenance_windows]]
ref = "lift-0305"              # optional: the window's identity (S-lift-0305); else S-<asset>-<local start>
asset = "b1-elev-1"
start = 2025-03-05T09:00:00+08:00   # a local time without offset is in the site's time zone
end = 2025-03-05T11:00:00+08:00
company = "sh-lift"
what = "半月保养 half-monthly maintenance"
```
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from facwatch.errors import ConfigError
from facwatch.model import (
    Asset,
    AssetKind,
    Company,
    Maintenance,
    MaintenancePlan,
    MaintenanceWindow,
    Person,
)

DEFAULT_INTERVAL_DAYS = {AssetKind.ELEVATOR: 15.0, AssetKind.PUMP: 30.0, AssetKind.POWER: 90.0}
"""A visit at least this often unless the plan says otherwise (elevators: at least every 15 days)."""
_ID = r"^[A-Za-z0-9_-]{1,64}$"
_APPRISE = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")
LANGS = ("zh", "en", "zh+en", "en+zh")
_REF = r"^[A-Za-z0-9_-]{1,40}$"
"""A window's own ``ref`` (``S-<ref>``); digits alone are refused: they were the old file-order ``S-<n>``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContactIn(_Strict):
    id: str = Field(pattern=_ID)
    name: str = ""
    notify: list[str] = Field(default_factory=list)
    lang: str = "zh"

    @field_validator("notify")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not _APPRISE.match(url) and "{" not in url:
                raise ValueError(f"{url!r} is not an apprise URL (scheme://...)")
        return urls

    @field_validator("lang")
    @classmethod
    def _lang(cls, lang: str) -> str:
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {', '.join(LANGS)}")
        return lang


class CompanyIn(_Strict):
    id: str = Field(pattern=_ID)
    name: str = ""
    contacts: list[ContactIn] = Field(default_factory=list)


class PlanIn(_Strict):
    asset: str
    interval_days: float | None = Field(default=None, gt=0)
    company: str | None = None
    certificate: str = ""
    certificate_expires: date | None = None
    last_visit: date | datetime | None = None


class WindowIn(_Strict):
    ref: str | None = Field(default=None, pattern=_REF)
    asset: str
    start: datetime
    end: datetime
    company: str | None = None
    what: str = ""

    @field_validator("ref")
    @classmethod
    def _not_a_number(cls, ref: str | None) -> str | None:
        if ref is not None and ref.isdigit():
            raise ValueError("a ref of digits alone is refused (the old S-<n> numbering): use a word")
        return ref


class MaintenanceIn(_Strict):
    companies: list[CompanyIn] = Field(default_factory=list)
    maintenance_plans: list[PlanIn] = Field(default_factory=list)
    maintenance_windows: list[WindowIn] = Field(default_factory=list)


SECTIONS = ("companies", "maintenance_plans", "maintenance_windows")


def _where(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"])


def local_time(value: date | datetime, tz: str) -> datetime:
    """A site-file date or time as UTC: a date is its local midnight, a time without offset is local."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.astimezone(UTC)


def parse_maintenance(
    data: dict[str, Any],
    assets: Sequence[Asset],
    people: Sequence[Person],
    tz: str,
    variables: dict[str, str],
    fail: Callable[[str], ConfigError],
) -> Maintenance:
    """The maintenance sections of a site file (all optional), checked against its assets."""
    try:
        raw = MaintenanceIn.model_validate({k: data[k] for k in SECTIONS if k in data})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"{_where(first)}: {first['msg']}") from exc
    kinds = {a.id: a.kind for a in assets}
    companies = tuple(_company(c, variables, fail) for c in raw.companies)
    company_ids = {c.id for c in companies}
    if len(company_ids) != len(companies):
        raise fail("companies: ids must be unique")
    if company_ids & {p.id for p in people}:
        raise fail("companies: a company id must not be a person id")

    def known(where: str, asset: str, company: str | None) -> AssetKind:
        if asset not in kinds:
            raise fail(f"{where}: unknown asset {asset!r}")
        if company is not None and company not in company_ids:
            raise fail(f"{where}: unknown company {company!r} (declare it in [[companies]])")
        return kinds[asset]

    plans: list[MaintenancePlan] = []
    for i, p in enumerate(raw.maintenance_plans):
        kind = known(f"maintenance_plans[{i}]", p.asset, p.company)
        plans.append(
            MaintenancePlan(
                asset=p.asset,
                interval_days=p.interval_days or DEFAULT_INTERVAL_DAYS.get(kind, 30.0),
                company=p.company,
                certificate=p.certificate,
                certificate_expires=None
                if p.certificate_expires is None
                else local_time(p.certificate_expires, tz),
                last_visit=None if p.last_visit is None else local_time(p.last_visit, tz),
            )
        )
    if len({p.asset for p in plans}) != len(plans):
        raise fail("maintenance_plans: one plan per asset")
    windows: list[MaintenanceWindow] = []
    refs: dict[str, int] = {}
    starts: dict[tuple[str, datetime], int] = {}  # one window per asset and start: each is told apart
    for i, w in enumerate(raw.maintenance_windows):
        where = f"maintenance_windows[{i}]"
        known(where, w.asset, w.company)
        start, end = local_time(w.start, tz), local_time(w.end, tz)
        if end <= start:
            raise fail(f"{where}: end must be after start")
        ref = window_ref(w.ref, w.asset, start, tz)
        if ref in refs:
            raise fail(
                f"{where}: ref {ref!r} is also maintenance_windows[{refs[ref]}]'s"
                + ("" if w.ref else " (the same asset and start: give one a `ref`)")
            )
        refs[ref] = i
        if (twin := starts.setdefault((w.asset, start), i)) != i:
            raise fail(f"{where}: {w.asset} already has a window starting then (maintenance_windows[{twin}])")
        windows.append(MaintenanceWindow(ref, w.asset, start, end, w.company, w.what))
    return Maintenance(companies=companies, plans=tuple(plans), windows=tuple(windows))


def window_ref(own: str | None, asset: str, start: datetime, tz: str) -> str:
    """A site-file window's identity, which survives reordering the file: ``S-<ref>`` when the entry has a
    ``ref``, else ``S-<asset>-<local start>`` (``S-b1-elev-1-20250305T0900``), so that such a window moved
    in the file is another window (the old one reads as cancelled)."""
    if own:
        return f"S-{own}"
    return f"S-{asset}-{start.astimezone(ZoneInfo(tz)):%Y%m%dT%H%M}"


def _company(c: CompanyIn, variables: dict[str, str], fail: Callable[[str], ConfigError]) -> Company:
    contacts: list[Person] = []
    for contact in c.contacts:
        try:
            urls = tuple(u.format(**variables) for u in contact.notify)
        except KeyError as exc:
            raise fail(f"company {c.id}: contact {contact.id} uses an unknown placeholder {exc}") from exc
        contacts.append(Person(contact.id, contact.name or contact.id, "company", urls, contact.lang))
    return Company(id=c.id, name=c.name or c.id, contacts=tuple(contacts))
