"""Settings (pydantic-settings: a TOML file, then ``FACWATCH_*`` environment variables) and site files.

Settings are built once, by the command line, and handed down; nothing reads them at import time.
Environment variables override the file: ``FACWATCH_MQTT__URL=mqtt://broker:1883``,
``FACWATCH_STATE__URL=postgresql+psycopg://...``. The site file format is documented in docs/sites.md.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from facwatch.errors import ConfigError
from facwatch.model import Asset, AssetKind, Building, OwnerGroup, Person, Site

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class MqttSettings(BaseModel):
    url: str = "mqtt://127.0.0.1:1883"
    client_id: str = "facwatch-gateway"
    username: str | None = None
    password: str | None = None
    queue_size: int = Field(default=20_000, ge=1)
    """Messages the network thread may hold before the gateway stops reading (back-pressure)."""
    batch_size: int = Field(default=1_000, ge=1)
    batch_ms: int = Field(default=50, ge=1)
    max_payload_bytes: int = Field(default=256 * 1024, ge=64)
    max_skew_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    """Readings further than this from now (past or future) are dead letters."""
    unknown_channels: Literal["reject", "accept"] = "accept"


class TelemetrySettings(BaseModel):
    backend: Literal["sqlite", "influxdb"] = "sqlite"
    sqlite_path: Path | None = None
    """Default: DATA_DIR/telemetry.db."""
    retention_days: float | None = None
    influx_url: str | None = None
    influx_token: str | None = None
    influx_org: str | None = None
    influx_bucket: str | None = None


class StateSettings(BaseModel):
    url: str | None = None
    """SQLAlchemy URL; default: SQLite at DATA_DIR/state.db. PostgreSQL: postgresql+psycopg://..."""


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    admin_token: str | None = None
    """A fixed admin token; when unset, ``facwatch demo`` makes one and prints it."""


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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACWATCH_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Path("data")
    site: str = "demo"
    """A site file (TOML), or ``demo`` for the bundled demo compound."""
    log_format: Literal["console", "json"] = "console"
    log_level: str = "info"
    mqtt: MqttSettings = MqttSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    state: StateSettings = StateSettings()
    api: ApiSettings = ApiSettings()
    sla: SlaSettings = SlaSettings()

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
        except ValueError as exc:
            raise fail(f"asset {aid}: unknown kind {raw.get('kind')!r}") from exc
        building = raw.get("building")
        if building not in building_ids:
            raise fail(f"asset {aid}: unknown building {building!r}")
        rated = raw.get("rated", {})
        if not isinstance(rated, dict) or not all(isinstance(v, int | float) for v in rated.values()):
            raise fail(f"asset {aid}: rated must be a table of numbers")
        assets.append(
            Asset(
                id=aid,
                kind=kind,
                building=building,
                name=str(raw.get("name", aid)),
                interval_s=float(raw.get("interval_s", 1.0)),
                rated={str(k): float(v) for k, v in rated.items()},
                checkin_code=str(raw.get("checkin_code", "")),
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
            )
        )
    chain = tuple(data.get("escalation", {}).get("chain", []))
    person_ids = {p.id for p in people}
    for pid in chain:
        if pid not in person_ids:
            raise fail(f"escalation chain names unknown person {pid!r}")
    return Site(
        id=ident(head.get("id"), "site id"),
        name=str(head.get("name", head.get("id"))),
        timezone=str(head.get("timezone", "UTC")),
        buildings=buildings,
        assets=tuple(assets),
        people=people,
        owners=tuple(owners),
        on_call=chain,
    )
