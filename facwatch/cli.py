"""The ``facwatch`` command line (ARCHITECTURE.md, "Command line and HTTP")."""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import orjson
import structlog

from facwatch import __version__, logs
from facwatch.cli_admin import add_admin_commands
from facwatch.clock import Clock, ScaledClock, WallClock
from facwatch.config import PARTS, load_settings, load_site
from facwatch.errors import ConfigProblems, FacwatchError
from facwatch.files import write_private
from facwatch.model import Site, ms_from_utc
from facwatch.owner_config import demo_secret
from facwatch.site_set import load_sites
from gateway.embedded import INSTALL_HINT

log = structlog.get_logger("facwatch.cli")

DESCRIPTION = """\
facwatch watches a residential compound's elevators, pumps and power over MQTT, finds faults and wear
before they stop a lift, and raises alerts with tickets, SLA clocks and notifications to the people on duty.
"""

EPILOG = """\
examples:
  facwatch demo                             everything in one process: broker, simulator, board on :8000
  facwatch check --config facwatch.toml     validate a settings file and its site files
  facwatch run --config facwatch.toml       the production process against your broker and store
  facwatch token --config facwatch.toml create ops --scope manager
                                            print a new API token (kept in that file's state database)

'facwatch COMMAND --help' describes a command. Documentation: README.md and docs/ in the source.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except ConfigProblems as exc:  # a file with mistakes: each on its own line, then what to run
        for line in exc.lines:
            print(line, file=sys.stderr)
        count = f"{len(exc.lines)} problem{'s' if len(exc.lines) != 1 else ''}"
        print(f"facwatch: {count} in the configuration; nothing was started", file=sys.stderr)
        return 1
    except FacwatchError as exc:
        print(f"facwatch: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facwatch",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"facwatch {__version__}", help="print the version and exit"
    )
    sub = parser.add_subparsers(metavar="COMMAND", title="commands")

    demo = sub.add_parser(
        "demo",
        help="the whole system in one process on embedded defaults",
        description="Starts an embedded MQTT broker (needs the demo extra: pip install 'facwatch[demo]'), "
        "the simulator, the alert engine, the API and the board; a scripted elevator entrapment follows.",
    )
    demo.add_argument("--duration", type=float, default=None, help="stop after S seconds (default: Ctrl-C)")
    demo.add_argument("--port", type=int, default=8000, help="port of the API and board (default 8000)")
    demo.add_argument("--data-dir", type=Path, default=Path("data"), help="where state and telemetry go")
    demo.add_argument("--broker", default=None, help="mqtt://host:port of a broker (default: embedded)")
    demo.add_argument("--speed", type=float, default=1.0, help="simulated time runs X times wall time")
    demo.add_argument("--scenario", default="demo", help="scenario file or shipped name (default: demo)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the simulator (default 0)")
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", help="the production process against configured servers")
    run.add_argument(
        "--config", type=Path, required=True, help="settings file (TOML); see deploy/facwatch.toml"
    )
    run.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"parts to run, comma-separated ({','.join(PARTS)}), or worker (gateway,alerts; sites by lease "
        "on PostgreSQL)",
    )
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate the settings file and its site files, then exit")
    check.add_argument("--config", type=Path, required=True, help="settings file (TOML)")
    check.set_defaults(func=cmd_check)

    simulate = sub.add_parser(
        "simulate", help="run the simulator against a broker, or write its data to files"
    )
    simulate.add_argument("--site", default="demo", help="site file, or demo (default: demo)")
    simulate.add_argument("--scenario", default="demo", help="scenario file or shipped name (default: demo)")
    simulate.add_argument(
        "--broker",
        default="mqtt://127.0.0.1:1883",
        help="mqtt://host:port to publish to (default: %(default)s)",
    )
    simulate.add_argument("--speed", type=float, default=1.0, help="simulated time runs X times wall time")
    simulate.add_argument(
        "--duration", type=float, default=None, help="stop after S seconds (default: Ctrl-C)"
    )
    simulate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    simulate.add_argument("--out", type=Path, default=None, help="write CSV files and labels.jsonl here")
    simulate.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: on a TTY)",
    )
    load = simulate.add_argument_group("load mode (benchmarks; prints a JSON report of what was sent)")
    load.add_argument("--load", action="store_true", help="publish synthetic load instead of a site")
    load.add_argument("--assets", type=int, default=1000, help="number of synthetic assets (default 1000)")
    load.add_argument("--rate", type=float, default=1.0, help="readings per second per asset")
    load.add_argument("--processes", type=int, default=1, help="publishing processes (default 1)")
    load.add_argument("--batch", type=int, default=1, help="readings per message (a JSON array when > 1)")
    load.add_argument(
        "--qos", type=int, choices=(0, 1), default=1, help="MQTT QoS of each message (default 1)"
    )
    load.add_argument("--site-id", default="load", help="site id in the topics (default: load)")
    simulate.set_defaults(func=cmd_simulate)

    detect = sub.add_parser("detect", help="score a recorded CSV series causally (anomaly score per row)")
    detect.add_argument("--input", type=Path, required=True, help="CSV file to score")
    detect.add_argument(
        "--value-column", action="append", required=True, help="a channel to score (repeat for several)"
    )
    detect.add_argument(
        "--timestamp-column", default=None, help="default: timestamp/datetime/time if present"
    )
    detect.add_argument("--sep", default=",", help="field separator (default ,)")
    detect.add_argument("--fit-rows", type=int, default=0, help="first N rows are only learned from")
    detect.add_argument("--output", type=Path, required=True, help="CSV: timestamp,anomaly_score,is_anomaly")
    detect.add_argument(
        "--explain", action="store_true", help="add columns confidence and channels (what drove each alarm)"
    )
    detect.set_defaults(func=cmd_detect)

    add_admin_commands(sub)
    return parser


class _Stopper:
    """Sets an event on SIGINT/SIGTERM so that the main thread can shut everything down in order."""

    def __init__(self) -> None:
        self.event = threading.Event()
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self.event.set()

    def wait(self, duration: float | None) -> None:
        self.event.wait(duration)


def cmd_demo(args: argparse.Namespace) -> int:
    from facwatch.app import build
    from simulator.publisher import run_publisher
    from simulator.scenario import load_scenario

    if args.broker is None and importlib.util.find_spec("amqtt") is None:
        print(f"facwatch: {INSTALL_HINT}", file=sys.stderr)
        return 1
    settings = load_settings(data_dir=args.data_dir, api={"port": args.port})
    logs.configure(settings.log_format, settings.log_level)
    data_dir = settings.data_dir.resolve()
    if settings.owner_reports.secret is None:  # the owners' report page is on in the demo
        settings.owner_reports.secret = demo_secret(data_dir)
    site = load_site("demo", variables={"data_dir": str(data_dir)})
    scenario = load_scenario(args.scenario)
    clock: Clock = WallClock() if args.speed == 1.0 else ScaledClock(args.speed)
    if args.broker:
        settings.mqtt.url = args.broker
    system = build(settings, site, clock=clock)
    stopper = _Stopper()
    system.start(embedded_broker=args.broker is None)
    sim_stop = threading.Event()
    try:
        token = system.tokens.create("demo-admin", ["admin"])
        url = system.api_url + "/"
        reports = _demo_report_links(site, settings.owner_reports.secret, system.api_url, data_dir / "qr")
        # last: a script (or the e2e test) that waits for demo.json finds the QR codes already written
        write_private(data_dir / "demo.json", orjson.dumps({"url": url, "token": token}))
        print(
            f"\nfacwatch demo — {site.name}\n"
            f"  board:  {url}#token={token}\n"
            f"  url:    {url}\n"
            f"  token:  {token}\n"
            f"  broker: {settings.mqtt.url}\n"
            f"  data:   {data_dir}   (demo.json, notifications.jsonl)\n"
            f"{reports}"
            f"  A scripted elevator entrapment follows about 30 s in. Ctrl-C stops.\n",
            flush=True,
        )
        sim = threading.Thread(
            target=run_publisher,
            kwargs={
                "site": site,
                "scenario": scenario,
                "broker_url": settings.mqtt.url,
                "speed": args.speed,
                "seed": args.seed,
                "stop": sim_stop,
                "start_ms": ms_from_utc(clock.now()),
            },
            name="facwatch-simulator",
            daemon=True,
        )
        sim.start()
        stopper.wait(args.duration)
    finally:
        sim_stop.set()
        time.sleep(0.2)
        system.stop()
    print("facwatch demo stopped; data kept in", data_dir, flush=True)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from facwatch.sole_owner import Holder, Role, claim
    from facwatch.state import open_engine
    from facwatch.worker import parse_only, worker_name

    settings = load_settings(args.config)
    logs.configure(settings.log_format, settings.log_level)
    loaded = load_sites(settings, variables={"data_dir": str(settings.data_dir.resolve())})
    only = parse_only(args.only)
    stopper = _Stopper()
    lost: list[str] = []

    def on_lost(reason: str) -> None:  # another kind of process took the lock meanwhile: stop every site
        lost.append(reason)
        stopper.event.set()

    # The start-up lock first, before the slow part of the start (imports, migrations, restore): a process
    # that may not run beside the others is refused at once (facwatch/sole_owner.py).
    probe = open_engine(settings.state_url)
    try:
        me = Holder(Role.WORKER if only.leased else Role.ALONE, worker_name(settings))
        guard = claim(probe, only.parts, me, on_lost)
    finally:
        probe.dispose()
    from facwatch.app import System, build

    single = [item.site.id for item in loaded if item.source.single]
    sites = [item.site for item in loaded]
    system: System = build(settings, sites, parts=only.parts, single=single, leased=only.leased, guard=guard)
    system.start()
    if system.api is not None:
        print(f"facwatch running: API on {system.api_url}/", flush=True)
    try:
        stopper.wait(None)
    finally:
        system.stop()  # releases the start-up lock last
    if lost:
        print(f"facwatch: {lost[0]}; every site stopped", file=sys.stderr)
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate as ``run`` would, start nothing; print every problem of the settings and the site file at once
    (each naming its file, key and what was expected) and exit 1 if there is any."""
    from facwatch.configcheck import validate_files

    settings, first, found = validate_files(args.config)
    if settings is None or first is None:
        raise ConfigProblems(found)
    loaded = load_sites(settings, variables={"data_dir": str(settings.data_dir.resolve())})
    from alerts.notify.check import check_templates, summary
    from alerts.notify.messages import Templates

    templates = Templates(settings.notify.template_dir)
    problems = False
    for item in loaded:
        site = item.site
        print(f"{args.config}: valid; site {site.id!r} with {len(site.assets)} assets ({item.source.source})")
        report = check_templates(site, templates)
        print(summary(report))
        problems = problems or bool(report.problems)
    return 1 if problems else 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulator.cli import simulate, simulate_load

    logs.configure()
    if args.load:
        return simulate_load(
            args.broker,
            assets=args.assets,
            rate=args.rate,
            processes=args.processes,
            batch=args.batch,
            qos=args.qos,
            duration=60.0 if args.duration is None else args.duration,
            site_id=args.site_id,
        )
    return simulate(
        site=args.site,
        scenario=args.scenario,
        broker=args.broker,
        speed=args.speed,
        duration=args.duration,
        seed=args.seed,
        out=args.out,
        progress=args.progress,
    )


def cmd_detect(args: argparse.Namespace) -> int:
    from alerts.detection.detect import detect_file

    sep = "\t" if args.sep in ("\\t", "tab") else args.sep
    scored = detect_file(
        args.input,
        args.value_column,
        args.output,
        timestamp_column=args.timestamp_column,
        sep=sep,
        fit_rows=args.fit_rows,
        explain=args.explain,
    )
    flagged = int(scored.flags.sum())
    print(f"{len(scored.flags)} rows scored, {flagged} flagged anomalous; wrote {args.output}")
    slow = [name for i, name in enumerate(args.value_column) if i not in scored.watched]
    if slow:
        print(f"not scored (slow drift on the fit rows): {', '.join(slow)}")
    return 0


def _demo_report_links(site: Site, secret: str, api_url: str, out: Path) -> str:
    """The owners' report page of each building: QR codes written to ``out``, links for the banner."""
    from datetime import timedelta

    from facwatch.owner_setup import write_qr_codes

    expires = datetime.now(UTC) + timedelta(days=365)
    written = write_qr_codes(site, secret, api_url, out, expires)
    return "".join(f"  report: {link}   ({building}, QR: {path})\n" for building, path, link in written)


if __name__ == "__main__":
    raise SystemExit(main())
