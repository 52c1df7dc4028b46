"""Settings (pydantic-settings: a TOML file, then ``FACWATCH_*`` environment variables) and site files.

Settings are built once, by the command line, and handed down; nothing reads them at import time.
Environment variables override the file: ``FACWATCH_MQTT__URL=mqtt://broker:1883``,
``FACWATCH_STATE__URL=postgresql+psycopg://...``. The site file format is documented in docs/sites.md.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from facwatch.chat_config import parse_chat
from facwatch.errors import ConfigError
from facwatch.model import (
    MACHINE_KINDS,
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
from facwatch.owner_config import OwnerReportSettings, parse_owner_sla

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LANGS = ("zh", "en", "zh+en", "en+zh")
"""Languages of notifications (alerts/notify/templates/<lang>/); ``zh+en`` sends both in one message."""


PARTS = ("gateway", "alerts", "api")
"""The parts of the system ``facwatch run --only`` can choose."""


class MqttSettings(BaseModel):
    url: str = "mqtt://127.0.0.1:1883"
    client_id: str = "facwatch-gateway"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    """With an ``mqtts://`` URL: the CA certificate(s) (PEM) the broker's certificate must chain to; unset:
    the system's trusted CAs."""
    cert_file: Path | None = None
    """With ``mqtts://``: this client's certificate (PEM), for brokers that require one."""
    key_file: Path | None = None
    """The private key of ``cert_file`` (PEM, unencrypted); unset: the key is in ``cert_file``."""
    server_name: str | None = None
    """The name sent as SNI and checked against the broker's certificate; unset: the URL's host."""
    queue_size: int = Field(default=20_000, ge=1)
    """Messages the network thread may hold before the gateway stops reading (back-pressure)."""
    batch_size: int = Field(default=1_000, ge=1)
    batch_ms: int = Field(default=50, ge=1)
    max_payload_bytes: int = Field(default=256 * 1024, ge=64)
    max_skew_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    """Readings older than this are dead letters (``timestamp_skew``)."""
    max_future_s: float = Field(default=60.0, gt=0)
    """Readings more than this ahead of the gateway's clock are dead letters (``future_timestamp``): one
    reading dated days ahead must not move a detector's clock past every later, true reading."""
    unknown_channels: Literal["reject", "accept"] = "reject"
    """A channel outside the asset kind's standard set: a dead letter (``unknown_channel``), or stored."""
    max_unknown_channels: int = Field(default=50, ge=0)
    """With ``unknown_channels = "accept"``: at most this many distinct unknown channels per asset (each is
    a series in the store); later new names are dead letters."""
    max_dead_letters_per_message: int = Field(default=20, ge=2)
    """One message yields at most this many dead letters: the last one summarises the rest."""
    broker_lost_s: float = Field(default=30.0, ge=0)
    """Disconnected from the broker this long raises one ``datapath.broker_lost`` finding (no per-device
    offline alerts: while disconnected, devices are not judged stale)."""


class IntakeSettings(BaseModel):
    """The durable findings queue between the rules and the state database (alerts/engine/intake.py)."""

    path: Path | None = None
    """Default: DATA_DIR/findings.db."""
    max_entries: int = Field(default=100_000, ge=1)
    """Judged batches with findings that may wait for the state database; at the bound the gateway stops
    acknowledging (the broker holds the messages)."""
    tell_fallback_after_s: float = Field(default=60.0, gt=0)
    """While the state database has been unreachable this long, the fallback person is told directly."""


class SpoolSettings(BaseModel):
    """The durable spool in front of a remote telemetry store (ingest/spool.py, docs/ingest.md)."""

    enabled: bool = True
    """Used with the ``influxdb`` backend (a local SQLite store has nothing to spool for)."""
    path: Path | None = None
    """Default: DATA_DIR/spool.db."""
    max_mb: float = Field(default=1024.0, gt=0)
    """At this size the gateway stops acknowledging (back-pressure onto the broker); nothing is dropped."""
    alert_ratio: float = Field(default=0.8, gt=0, le=1)
    """From this fill on, a ``datapath.spool_nearly_full`` finding is raised."""


class TelemetrySettings(BaseModel):
    backend: Literal["sqlite", "influxdb"] = "sqlite"
    sqlite_path: Path | None = None
    """Default: DATA_DIR/telemetry.db."""
    retention_days: float | None = None
    influx_url: str | None = None
    influx_database: str | None = None
    """The database written (``/write?db=``) and read (InfluxQL); on 2.x the database of the bucket's DBRP
    mapping. Default: ``influx_bucket``."""
    influx_retention_policy: str | None = None
    """The raw data's policy; None: the database's default (``influx-setup`` makes ``facwatch_raw`` it)."""
    influx_token: str | None = None
    """2.x and 3.x (and 1.8+): sent as ``Authorization: Token``."""
    influx_username: str | None = None
    """1.x with authentication on (HTTP basic auth), when there is no token."""
    influx_password: str | None = None
    influx_org: str | None = None
    """Flux reads only."""
    influx_bucket: str | None = None
    influx_query_language: Literal["influxql", "flux"] = "influxql"
    """InfluxQL is served by 1.x, 2.x (v1 compatibility) and 3.x; Flux by 2.x only."""
    influx_in_flight: int = Field(default=2, ge=1)
    """Write requests on the wire at once (each on its own connection)."""
    influx_raw_retention_days: float = Field(default=30.0, gt=0)
    """``influx-setup``: how long the raw data is kept."""
    influx_downsampled_policy: str = "facwatch_1m"
    """``influx-setup``: the retention policy of the 1-minute copy."""
    influx_downsampled_retention_days: float = Field(default=730.0, gt=0)
    influx_downsample_after_days: float | None = Field(default=None, gt=0)
    """History older than this is read from the 1-minute copy (after ``influx-setup``); None: raw only."""
    influx_batch_lines: int = Field(default=5_000, ge=1)
    """Line-protocol lines per write request."""
    influx_timeout_s: float = Field(default=10.0, gt=0)
    influx_gzip: bool = True
    influx_retries: int = Field(default=2, ge=0)
    """HTTP retries of one write before the batch goes to the spool."""
    store_outage_s: float = Field(default=30.0, gt=0)
    """Writes to the store failing this long raise a ``datapath.store_unreachable`` finding."""
    spool: SpoolSettings = SpoolSettings()


class StateSettings(BaseModel):
    url: str | None = None
    """SQLAlchemy URL; default: SQLite at DATA_DIR/state.db. PostgreSQL: postgresql+psycopg://..."""
    events_retention_days: float = Field(default=30.0, gt=0)
    """How long the event log keeps its rows (SSE resume and late webhook readers reach this far back)."""


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    admin_token: str | None = None
    """A fixed admin token; when unset, ``facwatch demo`` makes one and prints it."""
    webhook_allow_http: bool = False
    """Allow plain-http webhook targets (https only by default)."""
    webhook_allow_hosts: list[str] = []
    """Host names or networks (``ticket.local``, ``10.20.0.0/16``) webhooks may reach although they are not
    public addresses: an on-premises ticket system. Everything else inside the network is refused."""


class SlaSettings(BaseModel):
    """Seconds per level (ARCHITECTURE.md, alert levels and SLAs). None: no such clock."""

    red_acknowledge_s: float | None = 60
    red_on_site_s: float | None = 180
    red_fixed_s: float | None = None
    orange_acknowledge_s: float | None = 300
    orange_on_site_s: float | None = 1800
    orange_fixed_s: float | None = 24 * 3600
    yellow_acknowledge_s: float | None = 3600
    yellow_on_site_s: float | None = None
    yellow_fixed_s: float | None = 48 * 3600
    blue_acknowledge_s: float | None = 600
    blue_on_site_s: float | None = None
    blue_fixed_s: float | None = None
    owner_acknowledge_s: float = 600
    escalation_repeat_s: float = 60
    """After a clock runs out, the next person in the chain is told every this many seconds until someone acts."""
    resolve_hold_s: float = 60
    """Normal operation this long clears a firing alert."""


class NotifySettings(BaseModel):
    """The notification outbox and its delivery (alerts/notify/outbox.py, docs/notifications.md)."""

    timeout_s: float = Field(default=10.0, gt=0)
    """The hard deadline of one send, enforced by facwatch: a send still running then is abandoned (outcome
    unknown) and retried with the same reference."""
    per_target: int = Field(default=2, ge=1, le=16)
    """Sends in flight at once to one target (the URL's scheme, host and port); more wait, unattempted."""
    workers: int = Field(default=32, ge=1, le=256)
    """Sends in flight at once in all (threads, including abandoned ones that have not ended yet)."""
    round_wait_s: float = Field(default=1.0, ge=0)
    """How long one delivery round waits for its sends (meanwhile it keeps starting what becomes due); a
    slower send is recorded by a later round (its delivery is not delayed, only its receipt)."""
    max_attempts: int = Field(default=8, ge=1)
    backoff_s: float = Field(default=5.0, gt=0)
    backoff_cap_s: float = Field(default=600.0, gt=0)
    red_channels: int = Field(default=2, ge=1)
    """A RED message goes to this many of a person's channels at once; others go to the first only."""
    undelivered_s: float = Field(default=30.0, gt=0)
    """A RED message not delivered on any channel this long raises ``notify.undelivered`` and goes to the
    fallback person."""
    group_wait_s: float = Field(default=10.0, ge=0)
    """Messages to one recipient within this window go out as one (storm control, merged updates)."""
    group_wait_red_s: float = Field(default=0.0, ge=0)
    """The same for RED: none by default, so that a RED goes out at once (grouping is for lower levels)."""
    owner_levels: list[Literal["red", "orange", "yellow", "blue"]] = ["red", "orange"]
    """Alert levels the owners of the building hear about (opened, progress, plan B, all-clear, follow-up)."""
    quiet_hours: bool = True
    quiet_start: str = Field(default="22:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    quiet_end: str = Field(default="07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    """Owners' quiet hours in the site's time zone; non-urgent owner messages wait for a morning digest."""
    template_dir: Path | None = None
    """A directory with zh/ and en/ templates that override the shipped ones file by file."""
    rating_url: str | None = None
    """Where owners rate the service after the next-day follow-up (``{ticket}`` is replaced by the ticket's
    reference); unset: the follow-up invites them to call the service centre to rate it."""
    board_url: str | None = None
    """The board's address, for ticket links in engineers' messages (``{board_url}#ticket=T-000001``)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACWATCH_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Path("data")
    site: str = "demo"
    """A site file (TOML), or ``demo`` for the bundled demo compound."""
    log_format: Literal["console", "json"] = "console"
    log_level: str = "info"
    mqtt: MqttSettings = MqttSettings()
    intake: IntakeSettings = IntakeSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    state: StateSettings = StateSettings()
    api: ApiSettings = ApiSettings()
    sla: SlaSettings = SlaSettings()
    notify: NotifySettings = NotifySettings()
    owner_reports: OwnerReportSettings = OwnerReportSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first, then what the caller read from the file (passed as init values).
        return env_settings, init_settings

    @property
    def state_url(self) -> str:
        return self.state.url or f"sqlite:///{(self.data_dir / 'state.db').resolve()}"

    @property
    def telemetry_path(self) -> Path:
        return self.telemetry.sqlite_path or self.data_dir / "telemetry.db"


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Settings from an optional TOML file, the environment, and explicit overrides (the command line)."""
    values: dict[str, Any] = {}
    if path is not None:
        values = _read_toml(path)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        where = f" in {path}" if path else ""
        raise ConfigError(f"invalid settings{where}: {exc}") from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


# --- site files --------------------------------------------------------------------------------------


def demo_site_text() -> str:
    return resources.files("facwatch").joinpath("sites/demo.toml").read_text(encoding="utf-8")


def load_site(source: str | Path, variables: dict[str, str] | None = None) -> Site:
    """Load a site file, or the bundled demo site for ``"demo"``.

    ``{name}`` placeholders in notification URLs are filled from ``variables`` (the demo uses
    ``{data_dir}`` so that its notifications land in the data directory).
    """
    if str(source) == "demo":
        text, origin = demo_site_text(), "demo site"
    else:
        path = Path(source)
        try:
            text, origin = path.read_text(encoding="utf-8"), str(path)
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: no such site file") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from exc
    return parse_site(data, origin, variables or {})


def _asset_profile(raw: Any, origin: str, aid: str) -> str | None:
    """A per-asset detector profile: a shipped name, or a .toml path (relative to the site file)."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{origin}: asset {aid}: profile must be a profile name or a .toml path")
    if raw.endswith(".toml") and not Path(raw).is_absolute() and Path(origin).suffix == ".toml":
        return str(Path(origin).parent / raw)
    return raw


MIN_CHECKIN_CODE = 8
"""Characters a check-in code has at least: with 5 tries per 10 minutes, it cannot be guessed."""


def parse_site(data: dict[str, Any], origin: str, variables: dict[str, str]) -> Site:
    def fail(msg: str) -> ConfigError:
        return ConfigError(f"{origin}: {msg}")

    def ident(value: Any, what: str) -> str:
        if not isinstance(value, str) or not ID_PATTERN.match(value):
            raise fail(f"{what} must match [A-Za-z0-9_-]{{1,64}}, got {value!r}")
        return value

    def urls(raw: Any, what: str) -> tuple[str, ...]:
        if not isinstance(raw, list) or not all(isinstance(u, str) for u in raw):
            raise fail(f"{what}.notify must be a list of apprise URLs")
        try:
            return tuple(u.format(**variables) for u in raw)
        except KeyError as exc:
            raise fail(f"{what}.notify uses an unknown placeholder {exc}") from exc

    def lang(value: Any, what: str) -> str:
        if value not in LANGS:
            raise fail(f"{what}: lang must be one of {', '.join(LANGS)}, got {value!r}")
        return str(value)

    def owner_assets(o: dict[str, Any]) -> tuple[str, ...]:
        chosen = o.get("assets", [])
        known = {a.id: a.building for a in assets}
        for aid in chosen:
            if known.get(aid) != o["building"]:
                where = f"owner group {o.get('name')!r}: asset {aid!r}"
                raise fail(f"{where} is not in building {o['building']!r}")
        return tuple(chosen)

    head = data.get("site")
    if not isinstance(head, dict):
        raise fail("missing [site] table")
    buildings = tuple(
        Building(id=ident(b.get("id"), "building id"), name=str(b.get("name", b.get("id"))))
        for b in data.get("buildings", [])
    )
    building_ids = {b.id for b in buildings}
    assets: list[Asset] = []
    for raw in data.get("assets", []):
        aid = ident(raw.get("id"), "asset id")
        try:
            kind = AssetKind(raw.get("kind"))
            if kind not in MACHINE_KINDS:
                raise ValueError(kind)
        except ValueError as exc:
            raise fail(f"asset {aid}: unknown kind {raw.get('kind')!r}") from exc
        building = raw.get("building")
        if building not in building_ids:
            raise fail(f"asset {aid}: unknown building {building!r}")
        rated = raw.get("rated", {})
        if not isinstance(rated, dict) or not all(isinstance(v, int | float) for v in rated.values()):
            raise fail(f"asset {aid}: rated must be a table of numbers")
        code = raw.get("checkin_code")
        if code is None:
            raise fail(
                f"asset {aid}: missing checkin_code (the code posted at the asset; a check-in proves arrival)"
            )
        if not isinstance(code, str) or len(code.strip()) < MIN_CHECKIN_CODE:
            raise fail(
                f"asset {aid}: checkin_code must be a string of at least {MIN_CHECKIN_CODE} random characters"
            )
        assets.append(
            Asset(
                id=aid,
                kind=kind,
                building=building,
                name=str(raw.get("name", aid)),
                interval_s=float(raw.get("interval_s", 1.0)),
                rated={str(k): float(v) for k, v in rated.items()},
                checkin_code=code.strip(),
                profile=_asset_profile(raw.get("profile"), origin, aid),
            )
        )
    if len({a.id for a in assets}) != len(assets):
        raise fail("asset ids must be unique")
    people = tuple(
        Person(
            id=ident(p.get("id"), "person id"),
            name=str(p.get("name", p.get("id"))),
            role=str(p.get("role", "engineer")),
            notify=urls(p.get("notify", []), f"person {p.get('id')}"),
            lang=lang(p.get("lang", "zh"), f"person {p.get('id')}"),
        )
        for p in data.get("people", [])
    )
    owners = []
    for o in data.get("owners", []):
        if o.get("building") not in building_ids:
            raise fail(f"owner group {o.get('name')!r}: unknown building {o.get('building')!r}")
        owners.append(
            OwnerGroup(
                building=o["building"],
                name=str(o.get("name", o["building"])),
                notify=urls(o.get("notify", []), f"owner group {o.get('name')}"),
                lang=lang(o.get("lang", "zh"), f"owner group {o.get('name')}"),
                assets=owner_assets(o),
            )
        )
    chain = tuple(data.get("escalation", {}).get("chain", []))
    person_ids = {p.id for p in people}
    for pid in chain:
        if pid not in person_ids:
            raise fail(f"escalation chain names unknown person {pid!r}")
    rota, fallback, day_hours = _parse_rota(data, person_ids, building_ids, fail)
    return Site(
        id=ident(head.get("id"), "site id"),
        name=str(head.get("name", head.get("id"))),
        timezone=str(head.get("timezone", "UTC")),
        buildings=buildings,
        assets=tuple(assets),
        people=people,
        owners=tuple(owners),
        on_call=chain,
        alerts=_parse_alert_policy(data.get("alerts", {}), {a.id for a in assets}, fail),
        rota=rota,
        fallback=fallback,
        day_hours=day_hours,
        service_name=str(head.get("service_name", "")),
        service_phone=str(head.get("service_phone", "")),
        chat=parse_chat(data.get("chat", {}), building_ids, {p.id for p in people}, variables, fail),
        owner_sla=parse_owner_sla(data.get("owner_sla", {}), fail),
    )


def _parse_alert_policy(raw: Any, asset_ids: set[str], fail: Callable[[str], ConfigError]) -> AlertPolicy:
    """The ``[alerts]`` table (docs/alerts.md): numbers with their defaults, and ``[[alerts.rules]]``."""
    if not isinstance(raw, dict):
        raise fail("[alerts] must be a table")
    numbers = {"flap_cycles", "flap_window_s", "recurrence_count", "recurrence_window_days"}
    numbers |= {"recurrence_deadline_h", "lateness_s", "close_hold_s"}
    unknown = set(raw) - numbers - {"rules"}
    if unknown:
        raise fail(f"[alerts] has unknown keys {sorted(unknown)}")
    values: dict[str, Any] = {}
    for key in numbers & set(raw):
        value = raw[key]
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise fail(f"alerts.{key} must be a positive number, got {value!r}")
        values[key] = int(value) if key in ("flap_cycles", "recurrence_count") else float(value)
    rules: list[AlertRule] = []
    for i, rule in enumerate(raw.get("rules", [])):
        where = f"alerts.rules[{i}]"
        if not isinstance(rule, dict) or not isinstance(rule.get("kind"), str) or not rule["kind"]:
            raise fail(f"{where} needs a kind (a finding kind or a prefix ending in *)")
        extra = set(rule) - {"kind", "asset", "level", "pending_s", "hold_s"}
        if extra:
            raise fail(f"{where} has unknown keys {sorted(extra)}")
        asset = rule.get("asset")
        if asset is not None and asset not in asset_ids:
            raise fail(f"{where}: unknown asset {asset!r}")
        try:
            level = None if rule.get("level") is None else Level(rule["level"])
        except ValueError as exc:
            raise fail(f"{where}: level must be red, orange, yellow or blue, got {rule['level']!r}") from exc
        seconds: dict[str, float | None] = {}
        for key in ("pending_s", "hold_s"):
            value = rule.get(key)
            if value is not None and (not isinstance(value, int | float) or value < 0):
                raise fail(f"{where}: {key} must be a number of seconds >= 0, got {value!r}")
            seconds[key] = None if value is None else float(value)
        rules.append(AlertRule(kind=rule["kind"], asset=asset, level=level, **seconds))
    return AlertPolicy(rules=tuple(rules), **values)


def _parse_rota(
    data: dict[str, Any], person_ids: set[str], building_ids: set[str], fail: Callable[[str], ConfigError]
) -> tuple[tuple[RotaEntry, ...], str | None, tuple[int, int]]:
    """``[[rota]]`` entries, ``[escalation] fallback`` and ``day_start``/``day_end`` (``"08:00"``)."""
    entries: list[RotaEntry] = []
    for i, raw in enumerate(data.get("rota", [])):
        where = f"rota[{i}]"
        for key in ("day", "night"):
            if raw.get(key) not in person_ids:
                raise fail(f"{where}: {key} names unknown person {raw.get(key)!r}")
        building = raw.get("building")
        if building is not None and building not in building_ids:
            raise fail(f"{where}: unknown building {building!r}")
        try:
            kind = None if raw.get("asset_kind") is None else AssetKind(raw["asset_kind"])
        except ValueError as exc:
            raise fail(f"{where}: unknown asset_kind {raw.get('asset_kind')!r}") from exc
        entries.append(RotaEntry(day=raw["day"], night=raw["night"], building=building, asset_kind=kind))
    escalation = data.get("escalation", {})
    fallback = escalation.get("fallback")
    if fallback is not None and fallback not in person_ids:
        raise fail(f"escalation fallback names unknown person {fallback!r}")

    def hour(key: str, default: int) -> int:
        value = escalation.get(key)
        if value is None:
            return default
        match = re.fullmatch(r"(\d{1,2}):00", str(value))
        if match is None or not 0 <= int(match.group(1)) <= 24:
            raise fail(f'escalation.{key} must be a whole hour like "08:00", got {value!r}')
        return int(match.group(1))

    day = (hour("day_start", 8), hour("day_end", 20))
    if day[0] >= day[1]:
        raise fail("escalation.day_start must be before day_end")
    return tuple(entries), fallback, day
