"""The package as a user installs it: the wheel's contents, a fresh venv without the source tree, the help.

The wheel is built from a copy of the source tree (so the worktree stays clean) and installed into a new
venv with ``--no-deps``; the dependencies come from the running environment's site-packages through a
``.pth`` path line, which adds that directory without running its ``.pth`` files (so the editable install
of the source tree there is not activated). Every command runs from an empty directory without
PYTHONPATH, and the test checks that ``facwatch`` was imported from the new venv.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from facwatch import __version__
from facwatch.cli import _parser, main
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
_SKIP = shutil.ignore_patterns(
    ".git", ".venv", "data", "build", "*.egg-info", "__pycache__", ".*_cache", "out", "tests"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    shutil.copytree(ROOT, source, ignore=_SKIP)
    dist = base / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        check=True,
        timeout=120,
    )
    (built,) = dist.glob("facwatch-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ``bin`` directory of a fresh venv holding the wheel (deps reached through a path line)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env_dir)
    # The wheel first: with the path line in place pip would see the source tree's editable install.
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        timeout=120,
        env=_clean_env(),  # a PYTHONPATH to the source tree would make pip think facwatch is installed
    )
    (Path(purelib) / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    yield env_dir / "bin"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _run(bin_dir: Path, cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "facwatch"), *args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_wheel_carries_the_package_data_and_the_licence(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "facwatch/sites/demo.toml",
        "facwatch/migrations/alembic.ini",
        "facwatch/migrations/env.py",
        "alerts/detection/profiles/elevator.toml",
        "alerts/detection/profiles/pump.toml",
        "alerts/detection/profiles/power.toml",
        "simulator/scenarios/demo.toml",
        "api/static/index.html",
        "api/static/board.js",
    ):
        assert expected in names, f"{expected} missing from {wheel.name}"
    assert any(n.startswith("facwatch/migrations/versions/") and n.endswith(".py") for n in names)
    for language in ("en", "zh"):
        assert any(n.startswith(f"alerts/notify/templates/{language}/") for n in names), language
    assert not any(n.startswith("tests/") for n in names)
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    metadata = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "Classifier: Topic :: System :: Monitoring" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: ")]
    # amqtt only with the demo extra (and the tests'), never in a production install.
    amqtt = [line for line in requires if "amqtt" in line]
    assert amqtt and all("extra ==" in line for line in amqtt), amqtt
    assert any("amqtt" in line and 'extra == "demo"' in line for line in amqtt), amqtt


def test_fresh_venv_runs_version_and_check_without_the_source_tree(installed: Path, tmp_path: Path) -> None:
    version = _run(installed, tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"facwatch {__version__}", version
    where = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import facwatch, api, alerts; print(facwatch.__file__, api.__file__)",
        ],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(installed.parent) in where and str(ROOT) not in where, where
    config = tmp_path / "facwatch.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nsite = "demo"\n', encoding="utf-8")
    check = _run(installed, tmp_path, "check", "--config", str(config))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "valid; site" in check.stdout
    helped = _run(installed, tmp_path, "--help")
    assert helped.returncode == 0 and "ARCHITECTURE.md" not in helped.stdout
    assert "elevators, pumps and power" in helped.stdout


def _actions(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _actions(child, f"{path} {name}")
        else:
            yield path, action


def test_every_command_and_option_has_help() -> None:
    missing = [
        f"{path} {action.option_strings or action.dest}"
        for path, action in _actions(_parser(), "facwatch")
        if not action.help
    ]
    assert not missing, missing
    for action in _parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            assert all(choice.help for choice in action._choices_actions)


def test_demo_without_amqtt_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    real = importlib.util.find_spec

    def without_amqtt(name: str, *args: Any) -> Any:
        return None if name == "amqtt" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_amqtt)
    assert main(["demo", "--duration", "0", "--data-dir", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "pip install 'facwatch[demo]'" in error and "--broker" in error


@pytest.mark.e2e
def test_fresh_venv_demo_raises_the_red_alert(installed: Path, tmp_path: Path) -> None:
    """``facwatch demo --duration 40`` from the wheel: the scripted entrapment (30 s in) opens a RED alert."""
    port = free_port()
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [
            str(installed / "facwatch"),
            "demo",
            "--duration",
            "40",
            "--port",
            str(port),
            "--data-dir",
            str(data),
        ],
        cwd=tmp_path,
        env={**_clean_env(), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: (data / "demo.json").exists(), 30, "demo.json")
        info = orjson.loads((data / "demo.json").read_bytes())
        headers = {"Authorization": f"Bearer {info['token']}"}

        def red() -> bool:
            items = httpx.get(f"{info['url']}api/v1/alerts", headers=headers, timeout=5).json()["items"]
            return any(a["level"] == "red" and a["kind"] == "elevator.entrapment" for a in items)

        wait_until(red, 45, "the demo's RED entrapment alert")
        proc.send_signal(signal.SIGINT)  # Ctrl-C, as a user stops it (--duration 40 is the backstop)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    assert "facwatch demo stopped" in text
