"""Settings (pydantic-settings: a TOML file, then ``FACWATCH_*`` environment variables) and site files.

Settings are built once, by the command line, and handed down; nothing reads them at import time.
Environment variables override the file: ``FACWATCH_MQTT__URL=mqtt://broker:1883``,
``FACWATCH_STATE__URL=postgresql+psycopg://...``. The site file format is documented in docs/sites.md.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from facwatch import sitefile
from facwatch.errors import ConfigError, ConfigProblems
from facwatch.model import Site
from facwatch.owner_config import OwnerReportSettings
from facwatch.report_settings import ReportSettings as ReportSettings
from facwatch.report_settings import distinct_secrets, one_public_url
from facwatch.sitefile import demo_site_text as demo_site_text
from facwatch.sitefile import load_site as load_site
from facwatch.sitetypes import Lang
from facwatch.validation import problems

LANGS: tuple[str, ...] = get_args(Lang)
"""Languages of notifications (alerts/notify/templates/<lang>/); ``zh+en`` sends both in one message."""


PARTS = ("gateway", "alerts", "api")
"""The parts of the system ``facwatch run --only`` can choose."""


class _Table(BaseModel):
    """A table of the settings file: an unknown key (``[mqtt] pasword``) is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


class MqttSettings(_Table):
    url: str = "mqtt://127.0.0.1:1883"
    client_id: str = "facwatch-gateway"
    """The prefix of the gateway's client ids: each site is consumed as ``<client_id>-<site id>``."""
    username: str | None = None
    """``{site}`` is replaced by each site's id (one broker user per site)."""
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
    session_expiry_s: int = Field(default=3600, ge=0, le=4_294_967_295)
    """MQTT 5 session expiry: how long the broker keeps a site's session (its subscriptions and the QoS 1
    messages that arrive meanwhile) after the gateway went away; long enough to cover a restart or a site's
    takeover by another worker. Each site has its own session, client id ``<client_id>-<site id>``."""


class IntakeSettings(_Table):
    """The durable findings queue between the rules and the state database (alerts/engine/intake.py)."""

    path: Path | None = None
    """Default: DATA_DIR/findings.db."""
    max_entries: int = Field(default=100_000, ge=1)
    """Judged batches with findings that may wait for the state database; at the bound the gateway stops
    acknowledging (the broker holds the messages)."""
    tell_fallback_after_s: float = Field(default=60.0, gt=0)
    """While the state database has been unreachable this long, the fallback person is told directly."""
    stall_s: float = Field(default=30.0, gt=0)
    """A site whose SLA clocks' tick has not finished for this long is stuck: the fallback person is told
    directly and ``/readyz`` fails (facwatch/watchdog.py)."""


class SpoolSettings(_Table):
    """The durable spool in front of a remote telemetry store (ingest/spool.py, docs/ingest.md)."""

    enabled: bool = True
    """Used with the ``influxdb`` backend (a local SQLite store has nothing to spool for)."""
    path: Path | None = None
    """Default: DATA_DIR/spool.db."""
    max_mb: float = Field(default=1024.0, gt=0)
    """At this size the gateway stops acknowledging (back-pressure onto the broker); nothing is dropped."""
    alert_ratio: float = Field(default=0.8, gt=0, le=1)
    """From this fill on, a ``datapath.spool_nearly_full`` finding is raised."""


class TelemetrySettings(_Table):
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


class StateSettings(_Table):
    url: str | None = None
    """SQLAlchemy URL; default: SQLite at DATA_DIR/state.db. PostgreSQL: postgresql+psycopg://..."""
    events_retention_days: float = Field(default=30.0, gt=0)
    """How long the event log keeps its rows (SSE resume and late webhook readers reach this far back)."""


class ApiSettings(_Table):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    admin_token: SecretStr | None = Field(default=None, min_length=16)
    """A bootstrap admin token (16+ characters) for ``facwatch run``: registered, hashed, in the token store
    when the API starts, so that the first admin needs no ``facwatch token create``; revoking it there lasts
    (to replace it, set another). ``facwatch demo`` makes its own and prints it."""
    webhook_allow_http: bool = False
    """Allow plain-http webhook targets (https only by default)."""
    webhook_allow_hosts: list[str] = []
    """Host names or networks (``ticket.local``, ``10.20.0.0/16``) webhooks may reach although they are not
    public addresses: an on-premises ticket system. Everything else inside the network is refused."""


class SlaSettings(_Table):
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


class NotifySettings(_Table):
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


class ClusterSettings(_Table):
    """``facwatch run --only worker`` on PostgreSQL: the workers share the sites through leases
    (docs/scaling.md)."""

    lease_s: float = Field(default=15.0, gt=0)
    """How long a site's lease lasts: a dead worker's sites are taken over within it (renewed every third)."""
    worker_id: str | None = None
    """This worker's name in ``site_leases`` and the logs; unset: ``<hostname>-<pid>``."""


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
    sites: list[str] = []
    """More site files: one process serves every site named here, in ``sites_dir`` and in ``site`` (when it is
    set explicitly, or when neither ``sites`` nor ``sites_dir`` is). Site ids must be unique."""
    sites_dir: Path | None = None
    """A folder of site files: every ``*.toml`` in it (in name order) is a site."""
    reports: ReportSettings = ReportSettings()
    owner_reports: OwnerReportSettings = OwnerReportSettings()
    cluster: ClusterSettings = ClusterSettings()
    public_url: str | None = None
    """Where owners reach facwatch (``https://fw.example.com``): the one address of every owner-facing link
    (report pages, QR codes); ``[reports]``/``[owner_reports]`` ``public_url`` are filled from it
    (``facwatch.report_settings.one_public_url``)."""

    @model_validator(mode="after")
    def _owner_links(self) -> Settings:
        url = one_public_url(self.public_url, self.reports.public_url, self.owner_reports.public_url)
        distinct_secrets(self.reports.page_secret, self.owner_reports.secret)
        self.public_url = self.reports.public_url = self.owner_reports.public_url = url
        return self

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
        origin = str(path) if path else "settings"
        prefix = str(Settings.model_config.get("env_prefix", ""))
        text = path.read_text(encoding="utf-8") if path is not None else None
        raise ConfigProblems(problems(exc, Settings, origin, values, env_prefix=prefix, text=text)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


# --- site files (the models and their checks: facwatch/sitefile.py) -----------------------------------


def parse_site(data: dict[str, Any], origin: str, variables: dict[str, str]) -> Site:
    """The ``Site`` of a site file's tables, checked as a whole (``ConfigProblems`` names every problem)."""
    return sitefile.parse(data, origin, variables)
