"""``facwatch check`` and ``facwatch run`` as an operator runs them, on files with several mistakes.

``check`` prints every problem of the settings and the site file at once, one line each naming the file and
the key, and exits 1; ``run`` refuses the same files before starting anything, with the same lines and no
traceback (a misspelt time zone used to pass ``check`` and crash ``run``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.config.sites import broken

WORKTREE = Path(__file__).resolve().parents[2]


def facwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    env.pop("FACWATCH_SITE", None)
    command = [sys.executable, "-m", "facwatch.cli", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


def write_files(tmp_path: Path) -> tuple[Path, Path]:
    site = tmp_path / "hill.toml"
    text = broken('"Asia/Shanghai"', '"Asia/Shangai"')
    text = text.replace('checkin_code = "JKJS-TQE4"', 'checkin_cod = "JKJS-TQE4"')
    text = text.replace('"wecombot://BOTKEY"', '"wecombot://"')
    site.write_text(text, encoding="utf-8")
    config = tmp_path / "facwatch.toml"
    config.write_text(
        f'site = "{site}"\ndata_dir = "{tmp_path / "data"}"\n[mqtt]\npasword = "s3cret"\n[telemetry]\nbakend = "influxdb"\n',
        encoding="utf-8",
    )
    return config, site


def EXPECTED(config: Path, site: Path) -> list[str]:
    """The beginning of each line ``check`` prints, in order."""
    return [
        f"{config}:4: mqtt.pasword: unknown key; did you mean 'password'? (expected one of: url, ",
        f"{config}:6: telemetry.bakend: unknown key; did you mean 'backend'? (expected one of: backend, ",
        f"{site}:4: site.timezone: unknown time zone 'Asia/Shangai'; did you mean 'Asia/Shanghai'?",
        f"{site}:15: assets[1].checkin_code (b1-pump-1): missing; expected the code posted at the asset",
        f"{site}:19: assets[1].checkin_cod (b1-pump-1): unknown key; did you mean 'checkin_code'?",
        f"{site}:24: people[0].notify[1] (eng-wang): apprise cannot use this wecombot:// URL: An invalid WeCom",
        "facwatch: 6 problems in the configuration; nothing was started",
    ]


def test_check_prints_every_problem_at_once_and_exits_1(tmp_path: Path) -> None:
    config, site = write_files(tmp_path)
    done = facwatch("check", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert [line[: len(want)] for line, want in zip(lines, EXPECTED(config, site), strict=True)] == EXPECTED(
        config, site
    ), done.stderr
    assert "Traceback" not in done.stderr and "s3cret" not in done.stderr


def test_run_refuses_the_same_files_without_a_traceback(tmp_path: Path) -> None:
    config, site = write_files(tmp_path)
    config.write_text(f'site = "{site}"\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    done = facwatch("run", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 1
    assert f"{site}:4: site.timezone: unknown time zone 'Asia/Shangai'" in done.stderr
    assert f"{site}:15: assets[1].checkin_code (b1-pump-1): missing" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # nothing was started
