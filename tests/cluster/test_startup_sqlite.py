"""With SQLite one process owns every site: plain ``facwatch run`` (or ``--only gateway,alerts``) and
``--only worker`` on the same state file refuse each other, whichever starts second exits 1 at once naming
the first (real processes on real Mosquitto). The decisions (which locks a process takes, what the refused
one says) as tables."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from facwatch.sole_owner import Holder, Role, refusal, wanted
from tests.cluster.workers import write_sites
from tests.fixtures.facwatch_process import CHECKOUT, FacwatchProcess
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.servers import free_port

WORKER = Holder(Role.WORKER, "w1")
ALONE = Holder(Role.ALONE, "host-42")


@pytest.mark.parametrize(
    ("parts", "locks"),
    [
        (("gateway", "alerts"), ("gateway", "alerts")),  # a worker, or a process running every site alone
        (("gateway", "alerts", "api"), ("gateway", "alerts")),  # plain facwatch run
        (("api",), ()),  # an API replica runs no site: it starts beside anything
        (("alerts", "gateway"), ("gateway", "alerts")),  # always taken in the same order
        (("gateway",), ("gateway",)),  # the gateway alone does not stop an alerts-only process
    ],
)
def test_the_locks_a_process_takes(parts: tuple[str, ...], locks: tuple[str, ...]) -> None:
    assert wanted(parts) == locks


@pytest.mark.parametrize(
    ("me", "others", "says"),
    [
        # a worker beside a process running every site alone: stop that one, or run this as an API replica
        (WORKER, [ALONE], "host-42 (facwatch run without --only worker: it runs every site by itself)"),
        (WORKER, [ALONE], "Stop it and run every process as --only worker, or run this one with --only api"),
        # a process without leases beside workers: run it as a worker, or stop them
        (ALONE, [WORKER, Holder(Role.WORKER, "w2")], "worker w1 (facwatch run --only worker), worker w2"),
        (ALONE, [WORKER], "Run it as --only worker (or --only api), or stop the workers first"),
        # two processes without leases: only one may
        (ALONE, [Holder(Role.ALONE, "h-7")], "Only one process may run the sites without leases"),
        # the holder's connection hides its name (another database user): still refused, said so
        (ALONE, [], "another facwatch process (not named) already runs it"),
    ],
)
def test_what_the_refused_process_says_on_postgresql(me: Holder, others: list[Holder], says: str) -> None:
    message = refusal(me, "gateway", others, "postgresql+psycopg://fw@db/facwatch", sqlite=False)
    assert message.startswith("refusing to run the gateway of the sites: ")
    assert says in message


def test_a_holder_is_named_by_its_label_and_other_labels_are_nobody() -> None:
    assert Holder.parse(WORKER.label()) == WORKER
    assert Holder.parse("facwatch alone host-1-2 x") == Holder(Role.ALONE, "host-1-2 x")
    assert Holder.parse("psql") is None and Holder.parse("facwatch boss x") is None
    assert len(Holder(Role.WORKER, "x" * 100).label()) == 63  # PostgreSQL's limit of application_name


class Run(FacwatchProcess):
    """``facwatch run`` on one SQLite state file in ``workdir/data`` (every process of a test shares it)."""

    def __init__(self, workdir: Path, config: Path, parts: str) -> None:
        super().__init__(config, workdir / f"{parts.replace(',', '-')}.log", parts)

    def second(self) -> subprocess.CompletedProcess[str]:
        """Run it as the second process, as an operator would: its exit code and stderr."""
        env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
        cmd = [
            sys.executable,
            "-m",
            "facwatch.cli",
            "run",
            "--config",
            str(self.config),
            "--only",
            self.parts,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=CHECKOUT, timeout=50)


@pytest.fixture
def config(tmp_path: Path, mosquitto: MosquittoBroker) -> Iterator[Path]:
    write_sites(tmp_path / "sites", 2, "json://127.0.0.1:9/")
    path = tmp_path / "facwatch.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\nsites_dir = "{tmp_path / "sites"}"\nlog_format = "json"\n'
        f'[mqtt]\nurl = "{mosquitto.url}"\nclient_id = "fw-sqlite"\n[api]\nport = {free_port()}\n'
        '[cluster]\nworker_id = "first"\n',
        encoding="utf-8",
    )
    yield path


@pytest.mark.integration
@pytest.mark.parametrize(
    ("first", "then", "says"),
    [
        ("worker", "gateway,alerts,api", "another worker already runs on the SQLite state database"),
        ("gateway,alerts", "worker", "another facwatch process already runs on the SQLite state database"),
    ],
)
def test_plain_run_and_a_worker_on_one_sqlite_file_refuse_each_other(
    tmp_path: Path, config: Path, first: str, then: str, says: str
) -> None:
    running = Run(tmp_path, config, first)
    running.start(timeout=50)
    try:
        refused = Run(tmp_path, config, then).second()
        assert refused.returncode == 1, refused.stdout[-2000:] + refused.stderr[-2000:]
        assert says in refused.stderr
        assert "(worker first" in refused.stderr or "first (facwatch run without --only worker" in (
            refused.stderr
        )
        assert "with SQLite one process owns every site" in refused.stderr
        assert running.alive
    finally:
        running.stop_within(20)
