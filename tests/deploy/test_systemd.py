"""The systemd units in deploy/systemd pass ``systemd-analyze verify`` without a single warning about them, and
carry the hardening and the clean-stop settings the deployment relies on (docs/deploy.md, "systemd").

``verify`` also checks that ExecStart's program exists: the units name /opt/facwatch/bin/facwatch, the
documented install location, so the test verifies a copy in which only that path points at a stand-in script."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.servers import find_server

pytestmark = pytest.mark.integration

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
INSTALLED = "/opt/facwatch/bin/facwatch"
INSTANCES = {
    "facwatch-worker@.service": "facwatch-worker@1.service",
    "facwatch-api@.service": "facwatch-api@8001.service",
}


def _verify(folder: Path, template: str, text: str) -> str:
    """Every line ``systemd-analyze verify`` prints about the unit (empty: it found nothing to say)."""
    binary = find_server("systemd-analyze", "/usr/bin/systemd-analyze")
    stand_in = folder / "facwatch"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    assert INSTALLED in text
    (folder / template).write_text(text.replace(INSTALLED, str(stand_in)))
    done = subprocess.run(
        [binary, "verify", f"./{INSTANCES[template]}"], capture_output=True, text=True, cwd=folder, timeout=60
    )
    said = [line for line in (done.stdout + done.stderr).splitlines() if "facwatch" in line]
    return "\n".join(said) if said or done.returncode == 0 else f"exit {done.returncode}: {done.stderr}"


@pytest.mark.parametrize("template", sorted(INSTANCES))
def test_unit_verifies_without_warnings(template: str, tmp_path: Path) -> None:
    assert _verify(tmp_path, template, (UNITS / template).read_text()) == ""


def test_a_misspelt_setting_is_caught(tmp_path: Path) -> None:
    """The check would notice a mistake: one hardening key misspelt (systemd ignores it, with a warning)."""
    text = (UNITS / "facwatch-worker@.service").read_text().replace("ProtectSystem=", "ProtectSystm=")
    assert "Unknown key 'ProtectSystm'" in _verify(tmp_path, "facwatch-worker@.service", text)


def _settings(template: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (UNITS / template).read_text().splitlines():
        match = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if match:
            found.setdefault(match[1], []).append(match[2])
    return found


@pytest.mark.parametrize("template", sorted(INSTANCES))
def test_unit_is_hardened_and_stops_cleanly(template: str) -> None:
    unit = _settings(template)
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["User"] == ["facwatch"]
    assert unit["Restart"] == ["on-failure"]
    assert unit["KillSignal"] == ["SIGTERM"]
    assert unit["EnvironmentFile"] == ["/etc/facwatch/facwatch.env"]
    # The only place it may write is its own data directory, which is also where facwatch keeps its files.
    (writable,) = unit["ReadWritePaths"]
    assert f"FACWATCH_DATA_DIR={writable}" in unit["Environment"]
    # A clean stop releases the leases at once, then waits at most one send deadline (10 s): 30 s covers
    # that, and a hung process is killed soon after (its leases then run out on their own).
    (timeout,) = unit["TimeoutStopSec"]
    assert 20 <= int(timeout.removesuffix("s")) <= 35


def test_each_unit_runs_its_part() -> None:
    worker = _settings("facwatch-worker@.service")["ExecStart"][0]
    api = _settings("facwatch-api@.service")
    assert worker.endswith("run --config /etc/facwatch/facwatch.toml --only worker")
    assert api["ExecStart"][0].endswith("run --config /etc/facwatch/facwatch.toml --only api")
    assert "FACWATCH_API__PORT=%i" in api["Environment"]  # the instance is the port
