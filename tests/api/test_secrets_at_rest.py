"""Secrets at rest and in logs: credentials in URLs are masked in every log line; the state database, the
telemetry database, the spool and demo.json are created readable by their owner only (0600)."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
import structlog

from facwatch import logs
from facwatch.state import open_engine
from ingest.sqlite_db import Database


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("mqtt://gw:s3cr3t@broker.local:1883", "mqtt://***@broker.local:1883"),
        ("mqtts://user:p%40ss@10.0.0.2?protocol=5", "mqtts://***@10.0.0.2?protocol=5"),
        ("mailtos://ops:pw@smtp.example.com/?to=a@b.c", "mailtos://***@smtp.example.com/?to=a@b.c"),
        ("dingtalk://SECabc@tok123/13800000000", "dingtalk://***@tok123/13800000000"),
        (
            "https://oapi.dingtalk.com/robot/send?access_token=abcdef",
            "https://oapi.dingtalk.com/robot/send?access_token=***",
        ),
        ("json://127.0.0.1:8080/", "json://127.0.0.1:8080/"),  # nothing secret: unchanged
        ("plain words", "plain words"),
    ],
)
def test_credentials_in_urls_are_masked(raw: str, shown: str) -> None:
    assert logs.redact(raw) == shown


def test_a_log_line_never_carries_the_mqtt_password(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("json", "info")
    try:
        structlog.get_logger("t").info("started", broker="mqtt://gw:hunter2@broker:1883")
        try:
            raise ConnectionError("cannot reach mqtt://gw:hunter2@broker:1883")
        except ConnectionError:
            structlog.get_logger("t").exception("failed")
    finally:
        structlog.reset_defaults()
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert json.loads(err.splitlines()[0])["broker"] == "mqtt://***@broker:1883"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_and_telemetry_files_are_private(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    engine.dispose()
    db = Database(tmp_path / "telemetry.db")
    with db.write() as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    db.close()
    made = sorted(p.name for p in tmp_path.iterdir())
    assert "state.db" in made and "telemetry.db" in made
    for path in tmp_path.iterdir():
        assert _mode(path) == 0o600, f"{path.name} is {oct(_mode(path))}"


def test_an_existing_world_readable_state_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    open_engine(f"sqlite:///{path}").dispose()
    assert _mode(path) == 0o600


def test_standard_library_log_lines_are_masked_too() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.ERROR, __file__, 1, "cannot reach %s", ("mqtt://a:b@h",), None
    )
    assert logs.RedactingFilter().filter(record)
    assert record.getMessage() == "cannot reach mqtt://***@h"


def test_demo_json_is_written_private_and_whole(tmp_path: Path) -> None:
    from facwatch.files import write_private

    target = tmp_path / "demo.json"
    target.write_text("{}")
    target.chmod(0o644)
    write_private(target, b'{"token": "t"}')
    assert _mode(target) == 0o600 and target.read_bytes() == b'{"token": "t"}'
    assert [p.name for p in tmp_path.iterdir()] == ["demo.json"]
