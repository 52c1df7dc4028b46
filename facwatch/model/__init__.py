"""Shared domain values: the vocabulary every part of facwatch speaks.

Everything here is a frozen dataclass or an enum, with no I/O. Timestamps of telemetry are integers in
epoch milliseconds (cheap, exact, what devices send); times of alerts and tickets are timezone-aware UTC
``datetime`` values. The ports at the bottom are the seams between parts: the gateway writes to a
``ReadingSink`` without knowing the store, the API reads from a ``TelemetryReader`` without knowing
whether SQLite or InfluxDB answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Generic, Literal, Protocol, TypeVar, get_args


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


# --- telemetry ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one channel of one asset at one time. Booleans are stored as 0.0 / 1.0."""

    site: str
    asset: str
    channel: str
    ts_ms: int
    value: float
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Point:
    """A point of a history query: a raw reading or an aggregate over a window starting at ``ts_ms``."""

    ts_ms: int
    channel: str
    value: float


class DeadLetterReason(StrEnum):
    MALFORMED = "malformed"
    BAD_TOPIC = "bad_topic"
    UNKNOWN_SITE = "unknown_site"
    UNKNOWN_ASSET = "unknown_asset"
    UNKNOWN_CHANNEL = "unknown_channel"
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    OUT_OF_RANGE = "out_of_range"
    TIMESTAMP_SKEW = "timestamp_skew"
    """Older than ``max_skew_s``."""
    FUTURE_TIMESTAMP = "future_timestamp"
    """More than ``max_future_s`` ahead of the gateway's clock."""
    RETAINED = "retained"
    """A retained telemetry or event message: an old value replayed by the broker, not a measurement."""
    TOO_LARGE = "too_large"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    reason: DeadLetterReason
    detail: str
    payload: bytes
    """Truncated to a bounded size before it is stored."""
    received_ms: int
    id: int | None = None


# --- findings, alerts, tickets ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """What a detector or rule concluded about an asset at a time: the input of the alert engine.

    ``active`` is True while the condition holds and False when it has cleared, so the engine can
    resolve what it opened. ``kind`` is dotted, e.g. ``elevator.entrapment`` or ``threshold.high``.
    """

    site: str
    asset: str
    kind: str
    ts_ms: int
    active: bool
    level: Level
    summary: str
    channel: str | None = None
    value: float | None = None
    detail: Mapping[str, float] = field(default_factory=dict)


class AlertState(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    site: str
    asset: str
    building: str
    kind: str
    level: Level
    state: AlertState
    summary: str
    opened_at: datetime
    updated_at: datetime
    ticket_id: str | None = None
    resolved_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    count: int = 1
    """How many times the finding fired while this alert was open."""
    escalation_step: int = 0
    """0: the on-call engineer; 1: supervisor; 2: manager (index into the site's escalation chain)."""
    silenced_until: datetime | None = None
    """While set and in the future, changes of this alert notify nobody (they are still recorded)."""
    silence_reason: str | None = None
    suppressed_by: str | None = None
    """Inhibited by another alert (e.g. ``A-000007 power.outage``): recorded, nobody notified."""
    flapping: bool = False
    """Opened and closed too often: held open, not re-notified."""
    late: bool = False
    """Arrived late (replayed) and had already cleared: recorded, not dispatched."""
    predicted_at: datetime | None = None
    """For a predicted failure (``*.wear_predicted``): when the channel is predicted to reach its limit."""


class TicketState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    REOPENED = "reopened"


class TicketAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    DISPATCH = "dispatch"
    CHECK_IN = "check_in"
    PROGRESS = "progress"
    PLAN_B = "plan_b"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    CANCEL = "cancel"
    COMMENT = "comment"


@dataclass(frozen=True, slots=True)
class Deadlines:
    acknowledge: datetime | None = None
    on_site: datetime | None = None
    fixed: datetime | None = None


@dataclass(frozen=True, slots=True)
class TicketEvent:
    ts: datetime
    action: str
    actor: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Ticket:
    id: str
    site: str
    asset: str
    building: str
    kind: str
    level: Level
    state: TicketState
    title: str
    created_at: datetime
    updated_at: datetime
    deadlines: Deadlines
    alert_ids: tuple[str, ...] = ()
    timeline: tuple[TicketEvent, ...] = ()
    assignee: str | None = None
    acknowledged_at: datetime | None = None
    on_site_at: datetime | None = None
    resolved_at: datetime | None = None
    source: str = "sensor"
    """``sensor`` (opened by an alert) or ``owner`` (reported through the API)."""
    unit: str | None = None
    category: str | None = None
    description: str = ""
    photo_urls: tuple[str, ...] = ()
    location: str | None = None
    progress_percent: float | None = None
    eta: datetime | None = None
    """The engineer's latest estimate of when it is fixed (dispatch or progress)."""
    closed_at: datetime | None = None
    planned_at: datetime | None = None
    """Non-urgent work created at night: when it is planned (the next day-hours slot); None: at once."""
    company: str | None = None
    """The maintenance company it was dispatched to, if any."""
    arrival: str | None = None
    """How arrival was shown: ``code`` (the posted code only) or ``corroborated`` (the sensors agree)."""
    cost: float | None = None
    """What the repair cost (in the site's currency), given when it was resolved or closed."""


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A page of a list: ``next`` is the opaque cursor of the following page, or None at the end."""

    items: Sequence[T]
    next: str | None = None


# --- ports: the seams between parts ------------------------------------------------------------------


class ReadingSink(Protocol):
    """Where the gateway puts validated readings. ``write`` returns only once they are durable."""

    def write(self, readings: Sequence[Reading]) -> None: ...


class DeadLetterSink(Protocol):
    def put(self, letters: Sequence[DeadLetter]) -> None: ...


class TelemetryReader(Protocol):
    """History queries that every telemetry store answers the same way. ``limit``: the first points only
    (oldest first), so a caller can tell "too many" without holding them all."""

    def query(
        self,
        site: str,
        asset: str,
        channel: str,
        start_ms: int,
        end_ms: int,
        every_ms: int | None = None,
        fn: str = "mean",
        limit: int | None = None,
    ) -> list[Point]: ...

    def latest(self, site: str, asset: str) -> dict[str, Point]: ...


# --- maintenance (docs/maintenance.md) ----------------------------------------------------------------


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
