"""The ``facwatch`` commands that set things up and look things up rather than run the system: broker
configuration, QR codes, InfluxDB set-up, API tokens and owner reports on demand: their parsers
(``add_admin_commands``, added to ``facwatch.cli``'s) and what they do."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from facwatch.config import load_settings, load_site
from facwatch.errors import FacwatchError
from facwatch.site_set import load_sites

if TYPE_CHECKING:
    from api.auth import TokenStore


def add_admin_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """These commands' parsers, added to ``facwatch.cli``'s (after its own commands, in this order)."""
    broker = sub.add_parser("broker-config", help="write a Mosquitto password file and ACL for a site")
    broker.add_argument("--site", required=True, help="site file, or demo")
    broker.add_argument("--out", type=Path, required=True, help="directory for facwatch.passwd/.acl")
    broker.add_argument("--gateway-user", default="facwatch-gateway", help="the gateway's MQTT user name")
    broker.set_defaults(func=cmd_broker_config)

    influx = sub.add_parser(
        "influx-setup",
        help="create the InfluxDB 1.x database, its retention policies and the 1-minute copy",
        description="Creates [telemetry] influx_database with a raw retention policy (its default) and a "
        "continuous query keeping a 1-minute copy for long history. InfluxDB 2.x/3.x: docs/operations.md.",
    )
    influx.add_argument("--config", type=Path, required=True, help="settings file (TOML) with [telemetry]")
    influx.add_argument(
        "--backfill-days",
        type=float,
        default=0.0,
        help="also build the 1-minute copy of this many past days now (existing or late data)",
    )
    influx.set_defaults(func=cmd_influx_setup)

    qr = sub.add_parser(
        "qr",
        help="write a QR code per building for the owners' report page (PNG)",
        description="Each code links to the report page with a signed building token ([owner_reports] "
        "secret of the settings, or FACWATCH_OWNER_REPORTS__SECRET). Print and post one in each lobby.",
    )
    qr.add_argument("--site", required=True, help="site file, or demo")
    qr.add_argument("--out", type=Path, required=True, help="directory for <building>.png")
    qr.add_argument("--config", type=Path, default=None, help="settings file (TOML) with [owner_reports]")
    qr.add_argument(
        "--url", default=None, help="where owners reach the API (default: public_url, else host:port)"
    )
    qr.add_argument(
        "--days", type=float, default=None, help="how long the codes stay valid (default: token_days)"
    )
    qr.set_defaults(func=cmd_qr)

    token = sub.add_parser("token", help="create or revoke API tokens")
    token.add_argument(
        "--config", type=Path, default=None, help="settings file (TOML) naming the state database"
    )
    token.add_argument(
        "--data-dir", type=Path, default=None, help="data directory of a demo or run (overrides the settings)"
    )
    token_sub = token.add_subparsers(metavar="ACTION", required=True)
    create = token_sub.add_parser("create", help="print a new token (shown once)")
    create.add_argument("name", help="who or what the token is for (shown in token list)")
    create.add_argument(
        "--scope", action="append", default=None, help="viewer|engineer|manager|integration|admin"
    )
    create.add_argument(
        "--expires", default=None, metavar="SPAN", help="expire after 12h, 90d, 8w, ... (default: never)"
    )
    create.add_argument(
        "--site",
        action="append",
        default=None,
        metavar="SITE",
        help="limit the token to this site id (repeat for several; default: every site)",
    )
    create.set_defaults(func=cmd_token_create)
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id", help="the id shown by facwatch token list")
    revoke.set_defaults(func=cmd_token_revoke)
    listing = token_sub.add_parser("list", help="list tokens: id, name, scopes (never the token itself)")
    listing.set_defaults(func=cmd_token_list)

    report = sub.add_parser(
        "report",
        help="render an owners' report (page, PDF, charts, message) into a directory",
        description="Reads the state database (and the telemetry store) named by the settings and writes "
        "KIND-BUILDING-SUBJECT.LANG.html/.pdf/.txt and its PNG charts to --out (docs/reports.md).",
    )
    report.add_argument("--site", required=True, help="site file, or demo")
    report.add_argument(
        "--kind", required=True, choices=("monthly", "repair", "quarterly"), help="which report"
    )
    report.add_argument("--building", required=True, help="building id (a quarterly covers the compound)")
    report.add_argument("--out", type=Path, required=True, help="directory for the files")
    report.add_argument(
        "--period", default=None, help="YYYY-MM or YYYY-Qn (default: the last one that ended)"
    )
    report.add_argument(
        "--ticket", default=None, help="the rectification ticket of a repair report (T-000012)"
    )
    report.add_argument("--lang", default="zh+en", choices=("zh", "en", "zh+en"), help="default: both")
    report.add_argument("--config", type=Path, default=None, help="settings file naming the state database")
    report.add_argument("--data-dir", type=Path, default=None, help="data directory (overrides the settings)")
    report.set_defaults(func=cmd_report)


def cmd_broker_config(args: argparse.Namespace) -> int:
    from gateway.broker_config import write_broker_config

    site = load_site(args.site, {"data_dir": str(args.out)})  # placeholders only matter to notify URLs
    result = write_broker_config(site, args.out, gateway_user=args.gateway_user)
    print(f"wrote {result.passwd} and {result.acl} for {result.users} users ({result.new_users} new)")
    print(f"passwords are in {result.credentials} (mode 0600); see docs/ingest.md for mosquitto.conf")
    return 0


def cmd_qr(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from facwatch.owner_setup import write_qr_codes

    settings = load_settings(args.config)
    config = settings.owner_reports
    if not config.secret:
        raise FacwatchError(
            "no [owner_reports] secret in the settings: the codes would have nothing to sign with"
        )
    site = load_site(args.site, {"data_dir": str(settings.data_dir)})
    base = args.url or config.public_url or f"http://{settings.api.host}:{settings.api.port}"
    expires = datetime.now(UTC) + timedelta(days=args.days or config.token_days)
    for building, path, link in write_qr_codes(site, config.secret, base, args.out, expires):
        print(f"{building}: {path}  {link}")
    print(f"valid until {expires.date().isoformat()}")
    return 0


def cmd_influx_setup(args: argparse.Namespace) -> int:
    from ingest.factory import influx_layout, influx_store

    settings = load_settings(args.config)
    site = load_sites(settings, variables={"data_dir": str(settings.data_dir.resolve())})[0].site
    layout = influx_layout(settings)
    store = influx_store(settings, site)
    try:
        for statement in store.setup(layout, backfill_days=args.backfill_days):
            print(f"ok: {statement}")
    finally:
        store.close()
    print(
        f"database {layout.database}: raw data in {layout.raw_policy} ({layout.raw_days:g} days, the default),"
        f" 1-minute copy in {layout.minutes_policy} ({layout.minutes_days:g} days)"
    )
    if settings.telemetry.influx_downsample_after_days is None:
        print("set [telemetry] influx_downsample_after_days to read older history from the 1-minute copy")
    return 0


def _token_store(args: argparse.Namespace) -> TokenStore:
    from api.auth import TokenStore
    from facwatch.state import migrate, open_engine

    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    settings = load_settings(args.config, **overrides)
    engine = open_engine(settings.state_url)
    migrate(engine)
    return TokenStore(engine)


def cmd_token_create(args: argparse.Namespace) -> int:
    from api.auth import parse_expiry

    try:
        span = parse_expiry(args.expires) if args.expires else None
        store = _token_store(args)
        expires_at = None if span is None else datetime.now(UTC) + span
        print(store.create(args.name, args.scope or ["viewer"], expires_at, sites=args.site))
    except ValueError as exc:
        print(f"facwatch: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    if not _token_store(args).revoke(args.token_id):
        print(
            f"facwatch: no active token with id {args.token_id!r} (see: facwatch token list)", file=sys.stderr
        )
        return 1
    print(f"revoked {args.token_id}")
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    for info in _token_store(args).list():
        scopes = ",".join(str(s) for s in info.scopes)
        if info.sites is not None:
            scopes += f"  sites {','.join(info.sites)}"
        revoked = f"  revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else ""
        expires = f"  expires {info.expires_at:%Y-%m-%d %H:%M}" if info.expires_at else ""
        used = f"  last used {info.last_used_at:%Y-%m-%d %H:%M}" if info.last_used_at else "  never used"
        print(
            f"{info.id}  {info.name}  {scopes}  created {info.created_at:%Y-%m-%d %H:%M}"
            f"{expires}{used}{revoked}"
        )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from alerts.engine.errors import NotFound
    from alerts.notify.reports.service import Reports, last_subject
    from facwatch.state import migrate, open_engine
    from ingest.sqlite_store import SqliteStore

    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    settings = load_settings(args.config, **overrides)
    site = load_site(args.site, variables={"data_dir": str(settings.data_dir.resolve())})
    now = datetime.now(UTC)
    if args.kind == "repair" and not args.ticket:
        print("facwatch: a repair report needs --ticket T-...", file=sys.stderr)
        return 2
    engine = open_engine(settings.state_url)
    migrate(engine)
    store = None
    if settings.telemetry.backend == "sqlite" and settings.telemetry_path.exists():
        store = SqliteStore(settings.telemetry_path)
    try:
        reports = Reports(engine, site, settings.reports, settings.sla, telemetry=store)
        subject = (
            args.ticket
            if args.kind == "repair"
            else args.period or last_subject(args.kind, site.timezone, now)
        )
        written = reports.write(args.kind, args.building, subject, args.lang, args.out, now)
    except (NotFound, ValueError) as exc:
        print(f"facwatch: {exc}", file=sys.stderr)
        return 1
    finally:
        if store is not None:
            store.close()
        engine.dispose()
    for path in written:
        print(path)
    return 0
