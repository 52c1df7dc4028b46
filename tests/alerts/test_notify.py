"""The outbox and its dispatcher, through apprise to real receivers (HTTP json://, SMTP mailto://) and
the demo's own schemes (console://, jsonl://)."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from alerts.engine.claim_clock import claim_after, on_database_clock
from alerts.engine.db import notification_receipts
from alerts.engine.events import EventBus
from alerts.engine.service import AlertService
from alerts.notify.audiences import ref_of
from alerts.notify.dispatcher import LEASE_UNKNOWN
from alerts.notify.outbox import (
    UNDELIVERED,
    DeliveryFailed,
    Dispatcher,
    Outbox,
    OutboxNotifier,
    Outgoing,
    apprise_send,
    fallback_person,
)
from facwatch.config import NotifySettings, SlaSettings, load_site
from facwatch.model import Finding, Level, Person
from tests.fixtures.postgres import state_engine
from tests.fixtures.receivers import HttpReceiver, SmtpReceiver
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The state database: SQLite, and PostgreSQL 15 (a fresh database on the fixture's server)."""
    yield from state_engine(request, tmp_path)


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


def test_channels_in_order_a_failing_channel_falls_back_to_the_next(
    engine: Engine, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    out = tmp_path / "n.jsonl"
    enqueue(engine, item("k4", "nonsense-url", http_receiver.url, f"jsonl://{out}"))
    assert Dispatcher(engine).deliver_pending(NOW) == 1
    (body,) = http_receiver.wait_for(1)
    assert body["title"] == "title k4"
    statuses = {url: (status, error) for url, status, _, error in receipts(engine)}
    # The first channel failed (and keeps its error); once the second delivered, nobody retries it.
    assert statuses["nonsense-url"] == ("skipped", "not a usable apprise URL")
    assert statuses[http_receiver.url] == ("sent", None)
    assert statuses[f"jsonl://{out}"][0] == "skipped"  # delivered once is enough for a non-RED message
    assert not out.exists()


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


# --- RED: two channels at once, fallback channel, undelivered RED, restarts, timeouts -------------------


def red(key: str, *targets: str, recipient: str = "eng-wang") -> Outgoing:
    return Outgoing(
        key,
        "lakeside",
        None,
        "engineer",
        recipient,
        targets,
        f"[RED] {key}",
        "电梯困人",
        level="red",
        asset="b1-elev-1",
    )


def dead_url() -> str:
    """A receiver that is down: nothing listens on this port."""
    return f"json://127.0.0.1:{free_port()}/"


def test_red_goes_to_two_channels_at_once_and_a_failed_one_wakes_the_third(
    engine: Engine, http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver, tmp_path: Path
) -> None:
    enqueue(engine, red("r1", http_receiver.url, smtp_receiver.url, f"jsonl://{tmp_path / 'third.jsonl'}"))
    # One round that waits until every send answered: on a loaded machine the default one-second round can
    # end before the mail server's answer, which the next round would record.
    assert Dispatcher(engine).deliver_pending(NOW, wait_s=15) == 2
    assert http_receiver.wait_for(1)[0]["title"] == "[RED] r1"
    assert smtp_receiver.wait_for(1)[0]["Subject"] == "[RED] r1"
    assert [s for _, s, _, _ in receipts(engine)] == ["sent", "sent", "standby"]

    down = dead_url()
    third = tmp_path / "n.jsonl"
    enqueue(engine, red("r2", down, http_receiver.url, f"jsonl://{third}"))
    # the second channel, and the third in its place
    assert Dispatcher(engine).deliver_pending(NOW, wait_s=15) == 2
    assert [s for _, s, _, _ in receipts(engine)[3:]] == ["failed", "sent", "sent"]
    assert json.loads(third.read_text(encoding="utf-8"))["title"] == "[RED] r2"


def test_a_receiver_down_retries_then_falls_back_then_raises_the_undelivered_red(
    engine: Engine, smtp_receiver: SmtpReceiver
) -> None:
    findings: list[Finding] = []
    boss = Person("mgr-zhao", "赵经理 Manager Zhao", "manager", (smtp_receiver.url,))
    dispatcher = Dispatcher(engine, fallback=boss, on_findings=findings.extend, backoff_s=5)
    enqueue(engine, red("r3", dead_url(), dead_url()))
    for s in (0, 5, 10, 20):  # both channels keep failing, with backoff
        assert dispatcher.deliver_pending(NOW + timedelta(seconds=s)) == 0
    assert {(s, a) for _, s, a, _ in receipts(engine)} == {("failed", 3)}
    assert findings == []
    assert dispatcher.deliver_pending(NOW + timedelta(seconds=30)) == 0  # 30 s without delivery
    (finding,) = findings
    assert (finding.kind, finding.level, finding.asset, finding.active) == (
        UNDELIVERED,
        Level.RED,
        "b1-elev-1",
        True,
    )
    assert "not delivered on any channel within 30 s" in finding.summary
    assert "Connection refused" in finding.summary or "json://127.0.0.1" in finding.summary
    # The fallback person gets it, saying why, with the original text.
    assert dispatcher.deliver_pending(NOW + timedelta(seconds=31)) == 1
    (mail,) = smtp_receiver.wait_for(1)
    assert mail["Subject"] == "[未送达·转交] [RED] r3"
    text = _mail_text(mail)
    assert "未能送达 eng-wang" in text and "电梯困人" in text
    # Reported once, not every round.
    dispatcher.deliver_pending(NOW + timedelta(seconds=90))
    assert len(findings) == 1


def test_the_undelivered_red_becomes_an_alert_of_the_engine(engine: Engine, tmp_path: Path) -> None:
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    service = AlertService(engine, site, SlaSettings(), EventBus(), OutboxNotifier(site))
    dispatcher = Dispatcher(engine, site=site, on_findings=service.observe_findings)
    enqueue(engine, red("r4", dead_url()))
    dispatcher.deliver_pending(NOW)
    dispatcher.deliver_pending(NOW + timedelta(seconds=31))
    (alert,) = service.list_alerts().items
    assert (alert.kind, alert.level, alert.asset) == (UNDELIVERED, Level.RED, "b1-elev-1")


def test_a_restart_resumes_the_outbox_and_sends_nothing_twice(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    enqueue(
        engine, item("p1", http_receiver.url), item("p2", http_receiver.url), item("p3", http_receiver.url)
    )
    assert Dispatcher(engine, batch=1).deliver_pending(NOW) == 1  # the first process stops after one
    # A crash during a send: the receipt was claimed ("sending") and the process died before the answer.
    # The lease is on the database's clock with PostgreSQL (several workers), on the caller's with SQLite.
    r = notification_receipts
    with engine.begin() as conn:
        lease = claim_after(engine.dialect.name, NOW, 25)
        conn.execute(update(r).where(r.c.id == 2).values(status="sending", attempts=1, lease_until=lease))
    fresh = Dispatcher(engine)  # a new process on the same database
    assert fresh.deliver_pending(NOW + timedelta(seconds=1)) == 1  # p3; p2 is still under its lease
    if on_database_clock(engine.dialect.name):  # 25 s pass on the database's clock
        with engine.begin() as conn:
            conn.execute(update(r).where(r.c.id == 2).values(lease_until=claim_after("postgresql", NOW, 0)))
    assert fresh.deliver_pending(NOW + timedelta(seconds=25)) == 0  # lease ran out: outcome unknown
    assert receipts(engine)[1][1:] == ("failed", 1, LEASE_UNKNOWN)
    assert fresh.deliver_pending(NOW + timedelta(seconds=30)) == 1  # retried after the backoff
    titles = sorted(body["title"] for body in http_receiver.wait_for(3))
    assert titles == ["title p1", "title p2", "title p3"]  # each once
    p2 = receipts(engine)[1]
    assert p2[1:3] == ("sent", 2)
    assert Dispatcher(engine).deliver_pending(NOW + timedelta(days=1)) == 0  # known outcomes: never again
    assert len(http_receiver.received) == 3


def test_a_send_that_hangs_is_abandoned_at_its_deadline_and_retried(engine: Engine) -> None:
    release = threading.Event()
    calls: list[str] = []

    def hanging(url: str, title: str, body: str, outgoing: Outgoing) -> None:
        calls.append(title)
        if len(calls) == 1:
            release.wait(10)

    settings = NotifySettings(timeout_s=0.3, backoff_s=1)
    dispatcher = Dispatcher(engine, settings=settings, send=hanging)
    enqueue(engine, item("h1", "json://example.invalid/"))
    try:
        assert dispatcher.deliver_pending(NOW, wait_s=0) == 0
        assert receipts(engine)[0][1] == "sending"  # started, under its deadline
        wait_until(
            lambda: dispatcher.deliver_pending(NOW) == 0 and receipts(engine)[0][1] == "failed",
            5,
            "the hanging send abandoned",
        )
        ((_, _, attempts, error),) = receipts(engine)
        assert attempts == 1 and error is not None and "outcome unknown" in error and "0.3 s" in error
        # The abandoned thread still holds one of the target's two slots; the retry takes the other.
        assert dispatcher.deliver_pending(NOW + timedelta(seconds=1)) == 1
        assert calls == ["title h1", "title h1"]
    finally:
        release.set()
        dispatcher.close()


def _mail_text(mail: EmailMessage) -> str:
    body = mail.get_body(("plain", "html"))
    assert body is not None
    return str(body.get_content())


def test_the_fallback_person_is_the_site_files_or_the_end_of_the_chain(tmp_path: Path) -> None:
    site = dataclasses.replace(load_site("demo", variables={"data_dir": str(tmp_path)}), fallback=None)
    assert fallback_person(site) == site.person("mgr-zhao")  # the last of the escalation chain
    chosen = dataclasses.replace(site, fallback="sup-li")
    assert fallback_person(chosen) == site.person("sup-li")
    assert fallback_person(dataclasses.replace(site, on_call=("eng-wang",))) is None  # nobody else to ask


def test_long_keys_and_names_fit_their_columns_and_stay_unique(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    name = "业主群" * 100
    long_a = Outgoing(
        "T-000001:" + "a" * 300, "lakeside", None, "owners", name, (http_receiver.url,), "t", "b"
    )
    long_b = dataclasses.replace(long_a, key="T-000001:" + "a" * 299 + "b")
    assert enqueue(engine, long_a, long_b) == 2
    assert enqueue(engine, long_a) == 0  # still idempotent
    assert Dispatcher(engine).deliver_pending(NOW) == 2


def test_a_red_all_clear_that_waited_for_the_morning_is_not_an_undelivered_red(engine: Engine) -> None:
    findings: list[Finding] = []
    held = dataclasses.replace(
        red("q1", dead_url()), audience="owners", release_at=NOW + timedelta(hours=8), quiet=True
    )
    enqueue(engine, held)
    dispatcher = Dispatcher(engine, on_findings=findings.extend)
    dispatcher.deliver_pending(NOW + timedelta(hours=1))
    assert receipts(engine) == []  # still waiting: nothing sent at night
    dispatcher.deliver_pending(NOW + timedelta(hours=8))
    dispatcher.deliver_pending(NOW + timedelta(hours=8, minutes=1))
    assert findings == []
    assert receipts(engine)[0][1] == "failed"


def test_a_red_that_gets_through_late_clears_its_undelivered_finding(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    findings: list[Finding] = []
    dispatcher = Dispatcher(engine, on_findings=findings.extend, backoff_s=5)
    http_receiver.fail_next = 1000  # the receiver answers 503: it is down
    enqueue(engine, red("r5", http_receiver.url))
    for s in (0, 5, 15, 31):
        dispatcher.deliver_pending(NOW + timedelta(seconds=s))
    assert [f.active for f in findings] == [True]
    with http_receiver.lock:
        http_receiver.fail_next = 0  # back up
    dispatcher.deliver_pending(NOW + timedelta(seconds=80))
    assert [f.active for f in findings] == [True, False]
    assert findings[1].asset == "b1-elev-1" and "delivered after all" in findings[1].summary
    assert http_receiver.wait_for(1)[0]["title"] == "[RED] r5"


def test_http_targets_carry_the_reference_a_receiver_can_deduplicate_by() -> None:
    headers: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"] or 0))
            headers.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        send = item("T-000001:A-000001:owners:b1:1号楼业主群")
        url = f"json://127.0.0.1:{server.server_address[1]}/"
        apprise_send(url, "t", "b", send)
        apprise_send(url + "?+X-Site=lakeside", "t", "b", send)  # the user's own headers stay
    finally:
        server.shutdown()
        server.server_close()
    assert [h["X-Facwatch-Ref"] for h in headers] == [ref_of(send.key)] * 2
    assert headers[1]["X-Site"] == "lakeside"
