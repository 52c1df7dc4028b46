"""Pieces of the tests that run real ``facwatch run --only worker`` and ``--only api`` processes on one
PostgreSQL, one Mosquitto and one InfluxDB: tiny site files, the processes, a publisher for every site's
elevator that remembers what the broker acknowledged, and readers of the leases and of the logs."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text

from gateway import codec, topics
from tests.fixtures.facwatch_process import FacwatchProcess
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until
from tests.reliability.eventlog_harness import MOVING, STUCK

ADMIN = "cluster-admin-token-0123456789abcdef"
ELEVATOR = "b1-elev-1"

_SITE = """\
[site]
id = "{site}"
name = "Compound {site}"
timezone = "Asia/Shanghai"

[[buildings]]
id = "b1"

[[assets]]
id = "{elevator}"
kind = "elevator"
building = "b1"
checkin_code = "QJ9N-39Y3"

[[people]]
id = "eng-wang"
notify = ["{receiver}{site}/engineer"]

[[owners]]
building = "b1"
notify = ["{receiver}{site}/owners"]

[escalation]
chain = ["eng-wang"]
fallback = "eng-wang"

[[rota]]
day = "eng-wang"
night = "eng-wang"
"""


def write_sites(folder: Path, count: int, receiver: str, extra: str = "") -> list[str]:
    """``count`` tiny site files (one elevator each) in ``folder``; ``receiver``: a ``json://host:port/`` URL
    under which each site's messages go to ``<site>/engineer`` and ``<site>/owners``; ``extra``: more of the
    site file (formatted like it: ``{site}``, ``{receiver}``)."""
    folder.mkdir(parents=True, exist_ok=True)
    sites = [f"s{i:02d}" for i in range(count)]
    for site in sites:
        body = (_SITE + extra).format(site=site, elevator=ELEVATOR, receiver=receiver)
        (folder / f"{site}.toml").write_text(body, encoding="utf-8")
    return sites


class Proc(FacwatchProcess):
    """One ``facwatch run`` process of this checkout: ``--only worker`` (named ``name``) or ``--only api``."""

    def __init__(
        self,
        workdir: Path,
        *,
        parts: str,
        name: str,
        sites_dir: Path,
        broker_url: str,
        state_url: str,
        influx_url: str,
        lease_s: float,
        api_port: int = 0,
        client_id: str = "fw-cluster",
        influx_database: str = "facwatch",
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.name, self.api_port = name, api_port
        config = workdir / "facwatch.toml"
        config.write_text(
            f'data_dir = "{workdir / "data"}"\nsites_dir = "{sites_dir}"\nlog_format = "json"\n'
            f'[mqtt]\nurl = "{broker_url}"\nclient_id = "{client_id}"\n'
            f'[state]\nurl = "{state_url}"\n'
            f'[telemetry]\nbackend = "influxdb"\ninflux_url = "{influx_url}"\ninflux_database = "{influx_database}"\n'
            f'[api]\nport = {api_port}\nadmin_token = "{ADMIN}"\n'
            "[sla]\nresolve_hold_s = 5\n"
            f'[cluster]\nlease_s = {lease_s}\nworker_id = "{name}"\n',
            encoding="utf-8",
        )
        super().__init__(config, workdir / "facwatch.log", parts)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines so far."""
        out = []
        for line in self.tail(10**9).splitlines():
            if line.startswith("{"):
                try:
                    out.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    continue
        return out

    def running_sites(self) -> set[str]:
        """Sites whose runtime this process started and has not stopped since (by its log)."""
        running: set[str] = set()
        for rec in self.records():
            if rec.get("event") == "site.started":
                running.add(str(rec["site"]))
            elif rec.get("event") == "site.stopped":
                running.discard(str(rec["site"]))
        return running


def intervals(proc: Proc) -> dict[str, list[tuple[datetime, datetime | None]]]:
    """When ``proc`` ran each site, by its log: (started, stopped or None while it runs)."""
    out: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for rec in proc.records():
        event, site = rec.get("event"), rec.get("site")
        if site is None or event not in ("site.started", "site.stopped"):
            continue
        at = datetime.fromisoformat(str(rec["timestamp"]))
        runs = out[str(site)]
        if event == "site.started":
            runs.append((at, None))
        elif runs and runs[-1][1] is None:
            runs[-1] = (runs[-1][0], at)
    return out


def overlaps(procs: Sequence[Proc]) -> list[str]:
    """Sites that two processes ran at the same moment (by their logs, on one machine's clock)."""
    runs = [(p.name, site, span) for p in procs for site, spans in intervals(p).items() for span in spans]
    found = []
    for i, (name_a, site_a, (start_a, end_a)) in enumerate(runs):
        for name_b, site_b, (start_b, end_b) in runs[i + 1 :]:
            if site_a != site_b or name_a == name_b:
                continue
            if (end_b is None or start_a < end_b) and (end_a is None or start_b < end_a):
                found.append(f"{site_a}: {name_a} {start_a}..{end_a} and {name_b} {start_b}..{end_b}")
    return found


class Publisher:
    """Every site's elevator, twice a second at QoS 1, remembering what the broker acknowledged (by reading
    timestamp, ms). ``stuck``: the sites whose car stands between floors with someone inside."""

    def __init__(self, port: int, sites: Sequence[str], every_s: float = 0.5) -> None:
        self.sites, self.every_s = list(sites), every_s
        self.stuck: set[str] = set()
        self._sent: list[tuple[str, int, mqtt.MQTTMessageInfo]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cluster-devices")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seq = 0
        while not self._stop.wait(self.every_s):
            seq += 1
            ts = int(time.time() * 1000)
            for site in self.sites:
                values = STUCK if site in self.stuck else MOVING
                payload = codec.encode(ts, dict(values), seq=seq)
                info = self.client.publish(topics.telemetry(site, "elevator", ELEVATOR), payload, qos=1)
                with self._lock:
                    self._sent.append((site, ts, info))

    def acked_between(self, site: str, start_ms: int, end_ms: int) -> set[int]:
        """Timestamps of the site's readings in [start_ms, end_ms] that the broker acknowledged."""
        with self._lock:
            sent = list(self._sent)
        return {ts for s, ts, info in sent if s == site and start_ms <= ts <= end_ms and info.is_published()}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()


def owners(engine: Engine) -> dict[str, str]:
    """The live leases by site, on the database's clock."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT site, owner FROM site_leases WHERE expires_at > clock_timestamp()"))
        return {str(r.site): str(r.owner) for r in rows}


def shares(engine: Engine) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for owner in owners(engine).values():
        out[owner] += 1
    return dict(out)


def get(api: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{api}/api/v1{path}", params=params, headers={"Authorization": f"Bearer {ADMIN}"})


def reds(api: str, site: str) -> list[dict[str, Any]]:
    answer = get(api, "/alerts", site=site, level="red", limit=100)
    assert answer.status_code == 200, answer.text
    return [a for a in answer.json()["items"] if a["asset"] == ELEVATOR]


def stored(api: str, site: str, start_ms: int, end_ms: int) -> set[int]:
    """The elevator's ``speed_mps`` readings in the telemetry store (through the API), as epoch ms."""
    answer = get(
        api, f"/assets/{ELEVATOR}/readings", site=site, channel="speed_mps", start=start_ms, end=end_ms
    )
    if answer.status_code != 200:
        return set()
    return {int(datetime.fromisoformat(p["ts"]).timestamp() * 1000) for p in answer.json()["points"]}


def start_all(processes: Sequence[Proc]) -> None:
    """Start the processes together (each waits for its own start line)."""
    failures: list[BaseException] = []

    def start(proc: Proc) -> None:
        try:
            proc.start(timeout=120)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(p,), daemon=True) for p in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def settled(engine: Engine, workers: Sequence[Proc], each: list[int]) -> None:
    """Wait until the leases and the sites running are shared as ``each`` (sorted counts per worker)."""
    wait_until(lambda: sorted(shares(engine).values()) == each, 60, f"shares {each}")
    wait_until(lambda: sorted(len(w.running_sites()) for w in workers) == each, 60, f"{each} sites running")


def repeated_posts(receiver: HttpReceiver, prefix: str = "/") -> list[tuple[str, bytes]]:
    """The messages (path, body) the receiver got more than once, of the paths under ``prefix``."""
    with receiver.lock:
        posts = [
            (path, orjson.dumps(body))
            for path, body in zip(receiver.paths, receiver.received, strict=True)
            if path.startswith(prefix)
        ]
    return [post for post, n in Counter(posts).items() if n > 1]
