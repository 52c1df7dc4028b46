"""Site files (TOML) as pydantic models: validated as a whole, every problem named at once (docs/sites.md).

``parse(data, origin, variables)`` validates the TOML's tables against ``SiteFile`` and returns the domain
value ``facwatch.model.Site``; if anything is wrong it raises ``ConfigProblems`` with one line per problem,
each naming the file and line, the key path and what was expected (``site.toml:40: assets[3].checkin_code
(pump-9): missing; expected ...``). Unknown keys are errors everywhere (a typo never switches a check off silently);
references between buildings, people and assets, time zones, apprise URLs and check-in codes are checked
here, at load, by the field types of ``facwatch/sitetypes.py``. ``python -m facwatch.sitefile`` prints the
JSON Schema published as docs/site.schema.json.

Adding a section (``[[companies]]``, ``[owner_sla]``, ...):
1. a model deriving from ``sitetypes.Section`` (unknown keys and loose types are refused for you), with a
   ``description`` on each field (it is what errors and the schema say is expected) and references typed
   ``BuildingRef`` / ``PersonRef`` / ``AssetRef`` (checked against the file), plus a ``to_domain()``;
2. one field on ``SiteFile`` below (``companies: list[CompanySection] = Field(default_factory=list)``) and
   one argument in ``SiteFile.to_site`` (``companies=tuple(c.to_domain() for c in self.companies)``) for the
   new field at the end of ``Site``; then regenerate docs/site.schema.json (tests/config/test_schema.py).
A section that needs more ids to refer to adds them to ``sitetypes.Known`` and to ``known_ids`` here.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, ValidationError, ValidationInfo, model_validator

from facwatch.chat_config import ChatSection
from facwatch.errors import ConfigError, ConfigProblems
from facwatch.maintenance_config import CompanyIn, PlanIn, WindowIn, parse_maintenance
from facwatch.model import (
    AlertPolicy,
    AlertRule,
    Asset,
    AssetKind,
    Building,
    Level,
    OwnerGroup,
    Person,
    RotaEntry,
    Site,
)
from facwatch.owner_config import parse_owner_sla
from facwatch.sitetypes import (
    AssetRef,
    BuildingRef,
    CheckinCode,
    Hour,
    Id,
    Known,
    Lang,
    NotifyUrl,
    PersonRef,
    Section,
    TimeZone,
    hour_of,
    known_of,
    unique_ids,
)
from facwatch.validation import problems

MachineKind = Literal["elevator", "pump", "power"]
"""The kinds a site file may list: ``facwatch.model.MACHINE_KINDS`` (a test keeps the two equal)."""
Role = Literal["engineer", "supervisor", "manager", "steward"]
_POLICY = AlertPolicy()


class SiteHead(Section):
    """``[site]``."""

    id: Id = Field(
        description="the site id: the {site} of the MQTT topics (1 to 64 letters, digits, '_' or '-')"
    )
    name: str | None = Field(default=None, description="the compound's name; default: the id")
    timezone: TimeZone = "UTC"
    service_name: str = Field(default="", description="who speaks in the owners' messages")
    service_phone: str = Field(default="", description="the service centre's phone, in every owner message")


class BuildingSection(Section):
    """``[[buildings]]``."""

    id: Id
    name: str | None = Field(default=None, description="default: the id")

    def to_domain(self) -> Building:
        return Building(id=self.id, name=self.id if self.name is None else self.name)


class AssetSection(Section):
    """``[[assets]]``: a machine that publishes telemetry."""

    id: Id = Field(description="the {asset} of fw/{site}/{kind}/{asset}/telemetry")
    kind: MachineKind
    building: BuildingRef
    name: str | None = Field(default=None, description="default: the id")
    interval_s: PositiveFloat = Field(
        default=1.0, description="seconds between a device's readings (silence much longer: offline)"
    )
    rated: dict[str, float] = Field(
        default={},
        description="rated values, numbers: floors, speed_mps, load_kg, pressure_bar, flow_m3h ...",
    )
    checkin_code: CheckinCode
    profile: str | None = Field(
        default=None,
        min_length=1,
        description="a detector profile instead of the kind's: a shipped name or a .toml path (relative to "
        "the site file)",
    )

    def to_domain(self, folder: Path | None) -> Asset:
        profile = self.profile
        if (
            profile is not None
            and profile.endswith(".toml")
            and folder is not None
            and not Path(profile).is_absolute()
        ):
            profile = str(folder / profile)
        return Asset(
            id=self.id,
            kind=AssetKind(self.kind),
            building=self.building,
            name=self.id if self.name is None else self.name,
            interval_s=self.interval_s,
            rated=dict(self.rated),
            checkin_code=self.checkin_code,
            profile=profile,
        )


class PersonSection(Section):
    """``[[people]]``: someone who answers alerts."""

    id: Id
    name: str | None = Field(default=None, description="default: the id")
    role: Role = "engineer"
    notify: list[NotifyUrl] = Field(
        default=[], description="apprise URLs, in order: RED uses the first two at once"
    )
    lang: Lang = Field(default="zh", description="the language of their messages: zh, en, zh+en or en+zh")

    def to_domain(self) -> Person:
        name = self.id if self.name is None else self.name
        return Person(id=self.id, name=name, role=self.role, notify=tuple(self.notify), lang=self.lang)


class OwnerGroupSection(Section):
    """``[[owners]]``: the owners of a building, who hear about it."""

    building: BuildingRef
    name: str | None = Field(default=None, description="default: the building id")
    notify: list[NotifyUrl] = Field(default_factory=list)
    lang: Lang = Field(default="zh", description="the language of their messages: zh, en, zh+en or en+zh")
    assets: list[AssetRef] = Field(
        default=[], description="only these assets of the building (a unit's elevator); default: all of them"
    )

    @model_validator(mode="after")
    def _in_building(self, info: ValidationInfo) -> OwnerGroupSection:
        known = known_of(info)
        if known is not None:
            for asset in self.assets:
                if known.assets.get(asset) != self.building:
                    raise ValueError(f"asset {asset!r} is not in building {self.building!r}")
        return self

    def to_domain(self) -> OwnerGroup:
        name = self.building if self.name is None else self.name
        return OwnerGroup(self.building, name, tuple(self.notify), self.lang, tuple(self.assets))


class EscalationSection(Section):
    """``[escalation]``."""

    chain: list[PersonRef] = Field(
        default=[], description="who is told first, second, third when a clock runs out"
    )
    fallback: PersonRef | None = Field(
        default=None, description="told when the rota names nobody, and of undelivered RED messages"
    )
    day_start: Hour = "08:00"
    day_end: Hour = "20:00"

    @model_validator(mode="after")
    def _day(self) -> EscalationSection:
        if hour_of(self.day_start) >= hour_of(self.day_end):
            raise ValueError(f"day_start ({self.day_start}) must be before day_end ({self.day_end})")
        return self


class RotaSection(Section):
    """``[[rota]]``: who is told first of a new ticket; the most specific entry wins."""

    day: PersonRef = Field(description="a person id: on call in staffed hours")
    night: PersonRef = Field(description="a person id: on call outside them")
    building: BuildingRef | None = Field(default=None, description="only this building")
    asset_kind: MachineKind | None = Field(default=None, description="only this kind of asset")

    def to_domain(self) -> RotaEntry:
        kind = None if self.asset_kind is None else AssetKind(self.asset_kind)
        return RotaEntry(day=self.day, night=self.night, building=self.building, asset_kind=kind)


class AlertRuleSection(Section):
    """``[[alerts.rules]]``: how findings of a kind become alerts."""

    kind: str = Field(
        min_length=1, description="a finding kind (pump.dry_run) or a prefix ending in * (pump.*, *)"
    )
    asset: AssetRef | None = Field(
        default=None, description="only for this asset (its rule beats the site's)"
    )
    level: Level | None = Field(default=None, strict=False, description="default: the finding's own level")
    pending_s: float | None = Field(default=None, ge=0, description="seconds the condition must hold first")
    hold_s: float | None = Field(default=None, ge=0, description="seconds of normal that resolve the alert")

    def to_domain(self) -> AlertRule:
        return AlertRule(self.kind, self.asset, self.level, self.pending_s, self.hold_s)


class AlertsSection(Section):
    """``[alerts]``: the alert policy (docs/alerts.md); every key is optional."""

    rules: list[AlertRuleSection] = Field(default_factory=list)
    flap_cycles: PositiveInt = _POLICY.flap_cycles
    flap_window_s: PositiveFloat = _POLICY.flap_window_s
    recurrence_count: PositiveInt = _POLICY.recurrence_count
    recurrence_window_days: PositiveFloat = _POLICY.recurrence_window_days
    recurrence_deadline_h: PositiveFloat = _POLICY.recurrence_deadline_h
    lateness_s: PositiveFloat = _POLICY.lateness_s
    close_hold_s: PositiveFloat = _POLICY.close_hold_s

    def to_domain(self) -> AlertPolicy:
        numbers = self.model_dump(exclude={"rules"})
        return AlertPolicy(rules=tuple(r.to_domain() for r in self.rules), **numbers)


class SiteFile(Section):
    """A site file: one compound (docs/sites.md)."""

    model_config = Section.model_config | {"title": "facwatch site file"}

    site: SiteHead = Field(description="the [site] table: id, name, timezone, service_name, service_phone")
    buildings: Annotated[list[BuildingSection], unique_ids("building")] = Field(default_factory=list)
    assets: Annotated[list[AssetSection], unique_ids("asset")] = Field(default_factory=list)
    people: Annotated[list[PersonSection], unique_ids("person")] = Field(default_factory=list)
    owners: list[OwnerGroupSection] = Field(default_factory=list)
    escalation: EscalationSection = EscalationSection()
    rota: list[RotaSection] = Field(default_factory=list)
    alerts: AlertsSection = AlertsSection()
    chat: ChatSection = ChatSection()
    companies: list[CompanyIn] = Field(
        default_factory=list, description="maintenance companies (docs/maintenance.md)"
    )
    maintenance_plans: list[PlanIn] = Field(default_factory=list, description="maintenance plans per asset")
    owner_sla: dict[str, Any] = Field(
        default_factory=dict, description="deadlines of owner-reported tickets per category (docs/owners.md)"
    )
    maintenance_windows: list[WindowIn] = Field(
        default_factory=list, description="planned maintenance windows"
    )

    def to_site(self, folder: Path | None = None) -> Site:
        return Site(
            id=self.site.id,
            name=self.site.id if self.site.name is None else self.site.name,
            timezone=self.site.timezone,
            buildings=tuple(b.to_domain() for b in self.buildings),
            assets=tuple(a.to_domain(folder) for a in self.assets),
            people=tuple(p.to_domain() for p in self.people),
            owners=tuple(o.to_domain() for o in self.owners),
            on_call=tuple(self.escalation.chain),
            alerts=self.alerts.to_domain(),
            rota=tuple(r.to_domain() for r in self.rota),
            fallback=self.escalation.fallback,
            day_hours=(hour_of(self.escalation.day_start), hour_of(self.escalation.day_end)),
            service_name=self.site.service_name,
            service_phone=self.site.service_phone,
            chat=self.chat.to_domain(),
        )


# --- loading -------------------------------------------------------------------------------------------


def known_ids(data: Mapping[str, object], variables: Mapping[str, str]) -> Known:
    """The ids the file defines, read leniently (a malformed entry is reported by validation, not here)."""

    def entries(key: str) -> list[dict[str, object]]:
        raw = data.get(key)
        return [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []

    def ids(key: str) -> frozenset[str]:
        return frozenset(str(e["id"]) for e in entries(key) if isinstance(e.get("id"), str))

    assets = {str(e["id"]): str(e.get("building")) for e in entries("assets") if isinstance(e.get("id"), str)}
    return Known(ids("buildings"), ids("people"), assets, dict(variables))


def parse(
    data: Mapping[str, object],
    origin: str,
    variables: Mapping[str, str],
    folder: Path | None = None,
    text: str | None = None,
) -> Site:
    """The ``Site`` of a site file's tables; ``ConfigProblems`` naming every problem at once (with its line,
    when the file's ``text`` is given)."""
    try:
        model = SiteFile.model_validate(data, context=known_ids(data, variables))
    except ValidationError as exc:
        raise ConfigProblems(problems(exc, SiteFile, origin, data, text=text)) from None
    site = model.to_site(folder)

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{origin}: {message}")

    maintenance = parse_maintenance(
        dict(data), site.assets, site.people, site.timezone, dict(variables), fail
    )
    owner_sla = parse_owner_sla(data.get("owner_sla", {}), fail)
    return dataclasses.replace(site, maintenance=maintenance, owner_sla=owner_sla)


def demo_site_text() -> str:
    return resources.files("facwatch").joinpath("sites/demo.toml").read_text(encoding="utf-8")


def load_site(source: str | Path, variables: Mapping[str, str] | None = None) -> Site:
    """A site file, or the bundled demo site for ``"demo"``.

    ``{name}`` placeholders in notification URLs and chat secrets are filled from ``variables`` (the demo uses
    ``{data_dir}`` so that its notifications land in the data directory).
    """
    folder: Path | None = None
    if str(source) == "demo":
        text, origin = demo_site_text(), "demo site"
    else:
        path = Path(source)
        try:
            text, origin, folder = path.read_text(encoding="utf-8"), str(path), path.parent
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: no such site file") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot be read: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from exc
    return parse(data, origin, variables or {}, folder, text)


def schema() -> dict[str, Any]:
    """The JSON Schema of a site file (docs/site.schema.json), for editors and other tools."""
    out: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    out.update(SiteFile.model_json_schema())
    return out


def schema_text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover - python -m facwatch.sitefile > docs/site.schema.json
    print(schema_text(), end="")
