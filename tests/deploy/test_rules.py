"""deploy/prometheus/rules.yml passes Debian's ``promtool check rules``, and its unit tests (rules_test.yml: each
case breaks one thing on purpose, a stopped process, a failing part, a growing spool, refused RED sends, an
SLA breach, and names the alert the operator sees) pass ``promtool test rules``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import RULES
from tests.fixtures.servers import find_server

pytestmark = pytest.mark.integration


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = find_server("promtool", "/usr/bin/promtool")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, cwd=RULES.parent)


def test_rules_pass_promtool_check() -> None:
    done = _promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_each_rule_fires_when_its_part_breaks_and_only_then() -> None:
    done = _promtool("test", "rules", "rules_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_rule_that_never_fires_is_caught(tmp_path: Path) -> None:
    """The unit tests would notice a broken rule: FacwatchDown turned upside down fails them."""
    broken = RULES.read_text().replace('up{job="facwatch"} == 0', 'up{job="facwatch"} == 1')
    assert broken != RULES.read_text()
    work = tmp_path
    (work / "rules.yml").write_text(broken)
    (work / "rules_test.yml").write_text((RULES.parent / "rules_test.yml").read_text())
    binary = find_server("promtool", "/usr/bin/promtool")
    done = subprocess.run(
        [binary, "test", "rules", "rules_test.yml"], capture_output=True, text=True, cwd=work
    )
    assert done.returncode != 0
    assert "FacwatchDown" in done.stdout + done.stderr


def test_the_example_prometheus_config_loads_the_rules(tmp_path: Path) -> None:
    shipped = (RULES.parent / "prometheus.yml").read_text()
    assert "/etc/prometheus/facwatch/rules.yml" in shipped
    (tmp_path / "prometheus.yml").write_text(
        shipped.replace("/etc/prometheus/facwatch/rules.yml", str(RULES))
    )
    done = _promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rules found" in done.stdout
