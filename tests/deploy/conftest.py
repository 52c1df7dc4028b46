"""A running facwatch (``facwatch demo`` as a subprocess, this worktree's code) and a real Prometheus from Debian
scraping it with deploy/prometheus/rules.yml loaded. Both module-scoped, on free loopback ports, stopped after.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.fixtures.servers import find_server, free_port, stop_process
from tests.fixtures.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "facwatch.json"
DEMO_S = 150  # the demo stops by itself after this, whatever happens to the test


@dataclass
class Demo:
    url: str
    proc: subprocess.Popen[bytes]

    @property
    def target(self) -> str:
        return self.url.removeprefix("http://").rstrip("/")

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=10).text


@dataclass
class Prometheus:
    url: str

    def query(self, expr: str) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(
            f"{self.url}/api/v1/query", params={"query": expr}, timeout=10
        ).json()
        return answer

    def values(self, expr: str) -> list[float]:
        answer = self.query(expr)
        assert answer["status"] == "success", answer
        return [float(sample["value"][1]) for sample in answer["data"]["result"]]

    def api(self, path: str) -> Any:
        return httpx.get(f"{self.url}/api/v1/{path}", timeout=10).json()["data"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "facwatch.cli",
        "demo",
        "--duration",
        str(DEMO_S),
        "--port",
        str(free_port()),
    ]
    with (data / "demo.log").open("wb") as log:
        proc = subprocess.Popen(
            [*cmd, "--data-dir", str(data)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    try:
        wait_until(lambda: (data / "demo.json").exists() or proc.poll() is not None, 60, "demo.json")
        assert proc.poll() is None, (data / "demo.log").read_text()[-3000:]
        url = str(orjson.loads((data / "demo.json").read_bytes())["url"]).rstrip("/")
        wait_until(lambda: _answers(f"{url}/metrics"), 30, "the demo's /metrics")
        yield Demo(url, proc)
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def prometheus(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    with scraping(demo.target, tmp_path_factory.mktemp("prometheus")) as server:
        yield server


@contextmanager
def scraping(target: str, work: Path) -> Iterator[Prometheus]:
    """A real Prometheus scraping ``target`` (host:port) every second, with deploy/prometheus/rules.yml."""
    binary = find_server("prometheus", "/usr/bin/prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "facwatch", "static_configs": [{"targets": [target]}]}],
    }
    (work / "prometheus.yml").write_bytes(orjson.dumps(config))  # JSON is YAML
    port = free_port()
    argv = [
        binary,
        f"--config.file={work / 'prometheus.yml'}",
        f"--storage.tsdb.path={work / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
    ]
    with (work / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(f"{url}/-/ready") or proc.poll() is not None, 30, "Prometheus ready")
        assert proc.poll() is None, (work / "prometheus.log").read_text()[-3000:]
        yield Prometheus(url)
    finally:
        stop_process(proc)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
