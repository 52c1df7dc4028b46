"""The outbox and its dispatcher, through apprise to real receivers (HTTP json://, SMTP mailto://) and
the demo's own schemes (console://, jsonl://)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from alerts.db import notification_receipts
from alerts.notify import DeliveryFailed, Dispatcher, Outbox, Outgoing, apprise_send
from facwatch.state import migrate, open_engine
from tests.fixtures.receivers import HttpReceiver, SmtpReceiver

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    return engine


def item(key: str, *targets: str, audience: str = "engineer") -> Outgoing:
    return Outgoing(key, "lakeside", None, audience, "eng-wang", targets, f"title {key}", f"body {key} 电梯")


def enqueue(engine: Engine, *items: Outgoing) -> int:
    with engine.begin() as conn:
        return Outbox().enqueue(conn, items, NOW)


def receipts(engine: Engine) -> list[tuple[str, str, int, str | None]]:
    r = notification_receipts
    with engine.connect() as conn:
        rows = conn.execute(select(r.c.url, r.c.status, r.c.attempts, r.c.error).order_by(r.c.id))
        return [(u, s, a, e) for u, s, a, e in rows]


def test_delivers_to_a_real_http_receiver_once(engine: Engine, http_receiver: HttpReceiver) -> None:
    assert enqueue(engine, item("k1", http_receiver.url)) == 1
    assert enqueue(engine, item("k1", http_receiver.url)) == 0  # the same key again adds nothing
    dispatcher = Dispatcher(engine)
    assert dispatcher.deliver_pending(NOW) == 1
    assert dispatcher.deliver_pending(NOW + timedelta(hours=1)) == 0  # never twice
    (body,) = http_receiver.wait_for(1)
    assert body["title"] == "title k1" and body["message"] == "body k1 电梯"
    assert receipts(engine) == [(http_receiver.url, "sent", 1, None)]


def test_failures_are_recorded_and_retried_with_backoff(engine: Engine, http_receiver: HttpReceiver) -> None:
    http_receiver.fail_next = 2
    enqueue(engine, item("k2", http_receiver.url))
    dispatcher = Dispatcher(engine, backoff_s=10)
    assert dispatcher.deliver_pending(NOW) == 0
    (_, status, attempts, error) = receipts(engine)[0]
    assert (status, attempts) == ("failed", 1) and error
    assert dispatcher.deliver_pending(NOW + timedelta(seconds=9)) == 0  # still backing off
    assert receipts(engine)[0][2] == 1
    assert dispatcher.deliver_pending(NOW + timedelta(seconds=10)) == 0  # second failure: wait 20 s
    assert dispatcher.deliver_pending(NOW + timedelta(seconds=29)) == 0
    assert dispatcher.deliver_pending(NOW + timedelta(seconds=30)) == 1
    assert receipts(engine)[0][:3] == (http_receiver.url, "sent", 3)
    assert len(http_receiver.wait_for(1)) == 1


def test_gives_up_after_max_attempts(engine: Engine) -> None:
    def broken(url: str, title: str, body: str, outgoing: Outgoing) -> None:
        raise DeliveryFailed("gateway down")

    enqueue(engine, item("k3", "json://127.0.0.1:9/"))
    dispatcher = Dispatcher(engine, send=broken, max_attempts=2, backoff_s=1)
    dispatcher.deliver_pending(NOW)
    dispatcher.deliver_pending(NOW + timedelta(seconds=5))
    dispatcher.deliver_pending(NOW + timedelta(hours=5))
    assert receipts(engine) == [("json://127.0.0.1:9/", "abandoned", 2, "gateway down")]


def test_one_receipt_per_target_and_a_bad_target_does_not_block_the_others(
    engine: Engine, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    out = tmp_path / "n.jsonl"
    enqueue(engine, item("k4", http_receiver.url, "nonsense-url", f"jsonl://{out}"))
    assert Dispatcher(engine).deliver_pending(NOW) == 2
    statuses = {url: status for url, status, _, _ in receipts(engine)}
    assert statuses == {http_receiver.url: "sent", "nonsense-url": "failed", f"jsonl://{out}": "sent"}


def test_jsonl_scheme_appends_json_lines_to_an_absolute_path(tmp_path: Path) -> None:
    out = tmp_path / "deep dir" / "notifications.jsonl"
    send = Outgoing("k", "lakeside", 7, "owners", "b1 owners", (), "电梯暂停", "1号楼1单元电梯暂停服务")
    apprise_send(f"jsonl://{out}", send.title, send.body, send)
    apprise_send(f"jsonl://{out}", "second", "two", send)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["title"] for line in lines] == ["电梯暂停", "second"]
    first = lines[0]
    assert first["body"] == "1号楼1单元电梯暂停服务"
    assert (first["audience"], first["ticket_id"]) == ("owners", "T-000007")
    assert datetime.fromisoformat(first["ts"]).tzinfo is not None


def test_console_scheme_prints_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    send = item("k5")
    apprise_send("console://", "Lift stopped", "An engineer is on the way", send)
    out = capsys.readouterr().out
    assert "Lift stopped\nAn engineer is on the way" in out


def test_mail_to_a_real_smtp_receiver(engine: Engine, smtp_receiver: SmtpReceiver) -> None:
    enqueue(engine, item("k6", smtp_receiver.url))
    assert Dispatcher(engine).deliver_pending(NOW) == 1
    (mail,) = smtp_receiver.wait_for(1)
    assert mail["Subject"] == "title k6"
    body = mail.get_body(("plain", "html"))
    assert body is not None and "电梯" in body.get_content()


@pytest.mark.parametrize("relative", [True, False])
def test_jsonl_paths_relative_and_non_ascii(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "数据" / "n.jsonl"
    url = "jsonl://数据/n.jsonl" if relative else f"jsonl://{target}"
    send = item("k7")
    apprise_send(url, "t", "b", send)
    (line,) = target.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["audience"] == "engineer"
