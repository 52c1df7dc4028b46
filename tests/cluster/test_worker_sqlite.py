"""``--only worker`` without PostgreSQL: the worker owns every site, and a second worker on the same SQLite
state database is refused with a message that says why; what ``--only`` accepts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from facwatch.app import build
from facwatch.config import load_settings
from facwatch.errors import StartupError
from facwatch.site_set import load_sites
from facwatch.worker import Only, parse_only
from tests.cluster.workers import write_sites
from tests.fixtures.facwatch_process import CHECKOUT
from tests.fixtures.mqtt import MosquittoBroker


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        ("worker", Only(("gateway", "alerts"), True)),  # the sites come by lease (or alone on SQLite)
        ("api", Only(("api",), False)),  # stateless: no site is run here
        ("gateway,alerts", Only(("gateway", "alerts"), False)),  # as before: every site, no lease
        ("worker,api", Only(("gateway", "alerts", "api"), True)),  # a worker that also serves the API
        (" worker , ", Only(("gateway", "alerts"), True)),  # spaces and empty items are ignored
    ],
)
def test_only_names_parts_and_the_worker_role(only: str, expected: Only) -> None:
    assert parse_only(only) == expected


def test_an_unknown_part_is_refused_naming_the_choices() -> None:
    with pytest.raises(StartupError, match="unknown parts \\['board'\\]; choose from worker"):
        parse_only("worker,board")


def test_a_sqlite_worker_owns_every_site_and_a_second_one_is_refused(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    write_sites(tmp_path / "sites", 2, "json://127.0.0.1:9/")
    config = tmp_path / "facwatch.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nsites_dir = "{tmp_path / "sites"}"\n'
        f'[mqtt]\nurl = "{mosquitto.url}"\nclient_id = "fw-sqlite"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    sites = [item.site for item in load_sites(settings, variables={"data_dir": str(tmp_path)})]
    system = build(settings, sites, parts=["gateway", "alerts"], leased=True)
    system.start()
    try:
        assert all(runtime.running for runtime in system.runtimes.values())  # no lease: every site is ours
        assert all(runtime.alerts.fencing is None for runtime in system.runtimes.values())
        env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
        second = subprocess.run(
            [sys.executable, "-m", "facwatch.cli", "run", "--config", str(config), "--only", "worker"],
            capture_output=True,
            text=True,
            env=env,
            cwd=CHECKOUT,
            timeout=120,
        )
        assert second.returncode == 1, second.stdout + second.stderr
        assert "another worker already runs on the SQLite state database" in second.stderr
    finally:
        system.stop()
    # once the first worker has stopped, another may run on the file
    again = build(settings, sites, parts=["gateway", "alerts"], leased=True)
    again.stop()
