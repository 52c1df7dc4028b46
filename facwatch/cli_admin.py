"""The ``facwatch`` commands that set things up and look things up rather than run the system: broker
configuration, QR codes, InfluxDB set-up, API tokens and owner reports on demand (``facwatch.cli`` parses)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from facwatch.config import load_settings, load_site
from facwatch.errors import FacwatchError
from facwatch.site_set import load_sites

if TYPE_CHECKING:
    from api.auth import TokenStore


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
