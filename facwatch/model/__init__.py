"""Shared domain values: the vocabulary every part of facwatch speaks.

Everything here is a frozen dataclass or an enum, with no I/O. Timestamps of telemetry are integers in
epoch milliseconds (cheap, exact, what devices send); times of alerts and tickets are timezone-aware UTC
``datetime`` values. The ports (``telemetry.py``) are the seams between parts: the gateway writes to a
``ReadingSink`` without knowing the store, the API reads from a ``TelemetryReader`` without knowing
whether SQLite or InfluxDB answers. One module per subject; every name is importable from
``facwatch.model`` itself: the site and its parts here, ``incidents`` (findings, alerts, tickets),
``telemetry``, ``owners`` (report categories and their deadlines), ``maintenance``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from facwatch.model.incidents import (
    Alert,
    AlertState,
    Deadlines,
    Finding,
    Page,
    Ticket,
    TicketAction,
    TicketEvent,
    TicketState,
)
from facwatch.model.maintenance import Company, Maintenance, MaintenancePlan, MaintenanceWindow
from facwatch.model.owners import (
    CATEGORIES,
    DEFAULT_OWNER_SLA,
    OLD_CATEGORIES,
    Category,
    CategorySla,
    OwnerSlaPolicy,
)
from facwatch.model.telemetry import (
    HISTORY_FUNCTIONS,
    DeadLetter,
    DeadLetterReason,
    DeadLetterSink,
    Point,
    Reading,
    ReadingSink,
    TelemetryQuery,
    TelemetryReader,
)

__all__ = [  # the names of the subject modules, re-exported (every name defined below is public too)
    "CATEGORIES",
    "DEFAULT_OWNER_SLA",
    "HISTORY_FUNCTIONS",
    "OLD_CATEGORIES",
    "Alert",
    "AlertState",
    "Category",
    "CategorySla",
    "Company",
    "DeadLetter",
    "DeadLetterReason",
    "DeadLetterSink",
    "Deadlines",
    "Finding",
    "Maintenance",
    "MaintenancePlan",
    "MaintenanceWindow",
    "OwnerSlaPolicy",
    "Page",
    "Point",
    "Reading",
    "ReadingSink",
    "TelemetryQuery",
    "TelemetryReader",
    "Ticket",
    "TicketAction",
    "TicketEvent",
    "TicketState",
]


class AssetKind(StrEnum):
    ELEVATOR = "elevator"
    PUMP = "pump"
    POWER = "power"
    SYSTEM = "system"
    """facwatch itself (its data path): never in a site file; alerts about it live on ``DATAPATH_ASSET``."""


MACHINE_KINDS = (AssetKind.ELEVATOR, AssetKind.PUMP, AssetKind.POWER)
"""The kinds a site file may list, each with its standard channels and detector profile."""

DATAPATH_ASSET = "datapath"
"""The pseudo asset of site-level findings about facwatch's own data path (e.g. the spool nearly full)."""
OWNERS_ASSET = "owners"
"""The pseudo asset of the owners' voice (alerts/detection/chat/ladder.py): ``owners`` for the site (a
crisis), ``owners-<building>`` for a building's chat groups (the steward's and the manager's rungs)."""


class Level(StrEnum):
    """Alert levels, after the Chinese four-colour early-warning practice (ARCHITECTURE.md)."""

    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    BLUE = "blue"

    @property
    def rank(self) -> int:
        """0 is the worst; sort by it to put RED first."""
        return _LEVEL_RANK[self]


_LEVEL_RANK = {Level.RED: 0, Level.ORANGE: 1, Level.YELLOW: 2, Level.BLUE: 3}

# Channels that the standard profiles expect, per asset kind (ARCHITECTURE.md, MQTT contract).
# The value is True for a boolean channel.
STANDARD_CHANNELS: Mapping[AssetKind, Mapping[str, bool]] = {
    AssetKind.ELEVATOR: {
        "floor": False,
        "in_door_zone": True,
        "door_open": True,
        "speed_mps": False,
        "motor_current_a": False,
        "vibration_rms_g": False,
        "load_kg": False,
        "alarm_button": True,
        "running": True,
        "inspection_mode": True,
        "limit_switch": True,
    },
    AssetKind.PUMP: {
        "discharge_pressure_bar": False,
        "suction_pressure_bar": False,
        "flow_m3h": False,
        "motor_current_a": False,
        "vibration_rms_mms": False,
        "bearing_temp_c": False,
        "running": True,
    },
    AssetKind.POWER: {
        "voltage_l1_v": False,
        "voltage_l2_v": False,
        "voltage_l3_v": False,
        "current_l1_a": False,
        "current_l2_a": False,
        "current_l3_a": False,
        "frequency_hz": False,
        "power_factor": False,
        "transformer_temp_c": False,
    },
}


def utc_from_ms(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)


def ms_from_utc(when: datetime) -> int:
    return int(when.timestamp() * 1000)


# --- sites -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Building:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Asset:
    id: str
    kind: AssetKind
    building: str
    name: str
    interval_s: float = 1.0
    """Expected reporting interval; silence longer than this times a tolerance means offline."""
    rated: Mapping[str, float] = field(default_factory=dict)
    """Rated values: an elevator's floors and speed, a pump's pressure and flow, a panel's voltage."""
    checkin_code: str = ""
    """The code posted at the asset; an engineer's check-in must carry it to prove arrival."""
    profile: str | None = None
    """The detector profile (a shipped name or a TOML file) instead of its kind's (docs/detectors.md)."""


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    role: str
    """``engineer``, ``supervisor`` or ``manager``."""
    notify: tuple[str, ...] = ()
    """Apprise URLs (or tags) that reach this person, on as many channels as they have."""
    lang: str = "zh"
    """Language of their messages: ``zh`` (default), ``en``, or both as ``zh+en``."""


@dataclass(frozen=True, slots=True)
class OwnerGroup:
    building: str
    name: str
    notify: tuple[str, ...] = ()
    lang: str = "zh"
    """Language of their messages: ``zh`` (default), ``en``, or both as ``zh+en``."""
    assets: tuple[str, ...] = ()
    """Only these assets (a unit's elevator); empty: every asset of the building."""


@dataclass(frozen=True, slots=True)
class ChatGroup:
    """An owners' chat group (site file ``[[chat.groups]]``, docs/owners.md), tied to one building."""

    id: str
    building: str
    name: str = ""
    platform: str = "api"
    """``dingtalk``, ``feishu``, ``wecom`` (through a bridge) or ``api`` (any bridge posting to the route)."""
    secret: str = ""
    """The platform's signing secret (DingTalk app secret; Feishu verification token)."""
    encrypt_key: str = ""
    """Feishu only: the encrypt key, which signs the callback (``X-Lark-Signature``)."""
    conversation: str = ""
    """The platform's id of the group (DingTalk ``conversationId``, Feishu ``chat_id``); empty: not checked."""
    steward: str | None = None
    """The building's steward (管家), a person id: called when complaints pile up in this group."""
    robot: str = ""
    """The group's robot (an apprise URL: ``dingtalk://``, ``feishu://``, ``wecombot://``, ``json://`` …);
    facwatch's replies in the group go there. Empty: facwatch does not speak in the group."""
    lang: str = "zh+en"
    """Language of the replies in the group: ``zh``, ``en`` or both as ``zh+en``."""
    steward_mobile: str = ""
    """The steward's mobile number, for an @-mention through a DingTalk robot (``at.atMobiles``)."""


@dataclass(frozen=True, slots=True)
class ChatPolicy:
    """The site file's ``[chat]`` table: the ladder's thresholds (defaults from practice) and privacy."""

    groups: tuple[ChatGroup, ...] = ()
    steward_keywords: int = 5
    """Complaint keywords in one group within ``window_s`` that call the steward."""
    window_s: float = 3600.0
    mood_s: float = 3600.0
    """A negative mood lasting this long in one group calls the project manager."""
    mood_min_messages: int = 3
    """Messages a group needs within ``mood_s`` before its mood is judged."""
    crisis_groups: int = 2
    """Groups complaining at the steward's rung at once: a crisis."""
    silent_s: float = 900.0
    """A complaint about a machine that no sensor confirms within this long is a finding of its own."""
    keep_days: float = 30.0
    """Chat text is kept this long, then only its figures."""
    manager: str | None = None
    """The project manager (项目经理), a person id; default: the first person with role ``manager``."""
    lexicon: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per-site additions to the lexicon (docs/owners.md): ``elevator = ["梯子"]``, ``complaint = [...]``."""

    def group(self, group_id: str) -> ChatGroup | None:
        for group in self.groups:
            if group.id == group_id:
                return group
        return None


@dataclass(frozen=True, slots=True)
class AlertRule:
    """How findings of a kind become alerts (site file ``[[alerts.rules]]``; docs/alerts.md)."""

    kind: str
    """A finding kind (``pump.pipe_burst``), or a prefix ending in ``*`` (``pump.*``, ``*``)."""
    asset: str | None = None
    """Only for this asset (an asset's rule beats the site's)."""
    level: Level | None = None
    """None: the finding's own level."""
    pending_s: float | None = None
    """The condition must hold this long before the alert opens (None: at once)."""
    hold_s: float | None = None
    """Normal for this long resolves the alert (None: the settings' ``sla.resolve_hold_s``)."""


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """The site file's ``[alerts]`` table: rules, flapping, recurrence, replay lateness (docs/alerts.md)."""

    rules: tuple[AlertRule, ...] = ()
    flap_cycles: int = 4
    """This many incidents of one kind on one asset within ``flap_window_s``: held open, told once."""
    flap_window_s: float = 3600.0
    recurrence_count: int = 3
    """The ``recurrence_count``-th incident within ``recurrence_window_days`` raises a rectification alert."""
    recurrence_window_days: float = 30.0
    recurrence_deadline_h: float = 48.0
    lateness_s: float = 300.0
    """A replayed condition that cleared longer ago than this is recorded, not dispatched."""
    close_hold_s: float = 3600.0
    """A resolved ticket closes once its asset has been normal this long; a recurrence before reopens it."""


@dataclass(frozen=True, slots=True)
class RotaEntry:
    """Who is on call (site file ``[[rota]]``): ``day`` in staffed hours, ``night`` otherwise; for one
    building and/or asset kind, or for everything when both are None."""

    day: str
    night: str
    building: str | None = None
    asset_kind: AssetKind | None = None


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    timezone: str
    buildings: tuple[Building, ...]
    assets: tuple[Asset, ...]
    people: tuple[Person, ...] = ()
    owners: tuple[OwnerGroup, ...] = ()
    on_call: tuple[str, ...] = ()
    """Person ids in escalation order: the on-call engineer first, then supervisor, then manager."""
    alerts: AlertPolicy = field(default_factory=AlertPolicy)
    rota: tuple[RotaEntry, ...] = ()
    fallback: str | None = None
    """Who is told when the rota names nobody for a building or asset kind."""
    day_hours: tuple[int, int] = (8, 20)
    """Staffed hours in the site's time zone: from the first hour up to (not including) the second."""
    service_name: str = ""
    """Who speaks in the owners' messages (``翠湖花园物业服务中心 Lakeside Gardens service centre``); empty: the
    site's name and "property service centre"."""
    service_phone: str = ""
    """The service centre's phone number, printed in every owner message."""
    chat: ChatPolicy = field(default_factory=ChatPolicy)
    """Owners' chat groups and the ladder (docs/owners.md)."""
    maintenance: Maintenance = field(default_factory=lambda: Maintenance())
    """Maintenance companies, plans and planned windows (docs/maintenance.md)."""
    owner_sla: OwnerSlaPolicy = field(default_factory=OwnerSlaPolicy)
    """Deadlines of owner-reported tickets per category (docs/owners.md)."""

    def asset(self, asset_id: str) -> Asset | None:
        for asset in self.assets:
            if asset.id == asset_id:
                return asset
        return None

    def person(self, person_id: str) -> Person | None:
        for person in self.people:
            if person.id == person_id:
                return person
        return None

    def owners_of(self, building: str) -> tuple[OwnerGroup, ...]:
        return tuple(group for group in self.owners if group.building == building)

    def escalation_chain(self) -> tuple[Person, ...]:
        return tuple(p for pid in self.on_call if (p := self.person(pid)) is not None)
