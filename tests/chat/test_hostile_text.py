"""Owners' messages with characters the state databases cannot keep (NUL: PostgreSQL refuses it; a lone
surrogate: not UTF-8), through the real routes, into the real engine on SQLite and PostgreSQL: the message is
kept and judged without them, never answered 500 (a platform would resend it in vain, and the complaint would
be lost)."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx

from api.connectors import dingtalk
from facwatch.model import ms_from_utc
from tests.api.fakes import T0
from tests.chat.conftest import Desk
from tests.chat.test_connectors import DING_SECRET
from tests.chat.test_scripted_day import entrapment


def ding(desk: Desk, msg_id: str, text: str) -> httpx.Response:
    """A signed DingTalk callback, its JSON written as DingTalk does (``\\uXXXX`` escapes, so any string)."""
    timestamp = str(ms_from_utc(desk.clock.now()))
    headers = {"timestamp": timestamp, "sign": dingtalk.signature(timestamp, DING_SECRET)}
    body = {"msgtype": "text", "text": {"content": text}, "msgId": msg_id, "createAt": int(timestamp)}
    raw = json.dumps(body | {"conversationId": "cidB1", "senderNick": "业主"}).encode()
    headers["Content-Type"] = "application/json"
    return desk.http.post("/api/v1/chat/dingtalk/b1-owners", content=raw, headers=headers)


def test_a_complaint_with_a_nul_still_joins_the_red_ticket(any_desk: Desk) -> None:
    desk = any_desk
    entrapment(desk, "b1-elev-1", T0)
    [alert] = desk.alerts(state="firing")
    answer = desk.say("b1-owners", "nul-1", "1单元电梯困人了\x00快来人", T0 + timedelta(minutes=1))
    assert answer.status_code == 201, answer.text
    assert answer.json()["ticket_id"] == alert["ticket_id"]
    ticket = desk.http.get(f"/api/v1/tickets/{alert['ticket_id']}", headers=desk.headers).json()
    assert any("1单元电梯困人了快来人" in (entry.get("note") or "") for entry in ticket["timeline"])
    again = desk.say("b1-owners", "nul-1", "1单元电梯困人了\x00快来人", T0 + timedelta(minutes=1))
    assert (again.status_code, again.json()["duplicate"]) == (200, True)


def test_a_platform_message_with_a_lone_surrogate_and_a_nul_is_kept_once(any_desk: Desk) -> None:
    desk = any_desk
    first = ding(desk, "odd-1", "电梯又坏了\ud800\x00无语")
    assert first.status_code == 200, first.text
    assert first.json()["duplicate"] is False
    assert ding(desk, "odd-1", "电梯又坏了\ud800\x00无语").json()["duplicate"] is True  # the platform retries
