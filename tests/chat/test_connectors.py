"""The chat route and the platform callbacks, over a real server: signatures (good, bad, stale), the Feishu
URL verification, and idempotency by ``msg_id``."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from alerts.engine.chat import ChatService
from alerts.engine.chat_db import chat_messages
from api.connectors import dingtalk, feishu
from facwatch.model import ms_from_utc
from tests.api.fakes import T0
from tests.chat.conftest import Desk

DING_SECRET = "demo-dingtalk-secret-b1"
LARK_TOKEN, LARK_KEY = "demo-feishu-verification-token-b2", "demo-feishu-encrypt-key-b2"


def kept(desk: Desk) -> int:
    with desk.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(chat_messages)).scalar_one())


def ding(
    desk: Desk, msg_id: str, text: str, *, secret: str = DING_SECRET, age_s: float = 0
) -> httpx.Response:
    timestamp = str(ms_from_utc(desk.clock.now()) - int(age_s * 1000))
    headers = {"timestamp": timestamp, "sign": dingtalk.signature(timestamp, secret)}
    body = {"msgtype": "text", "text": {"content": f" {text}"}, "msgId": msg_id, "createAt": int(timestamp)}
    body |= {"conversationId": "cidB1", "senderNick": "业主"}
    return desk.http.post("/api/v1/chat/dingtalk/b1-owners", json=body, headers=headers)


def lark_body(msg_id: str, text: str, token: str, at_ms: int) -> dict[str, Any]:
    content = json.dumps({"text": text}, ensure_ascii=False)
    message = {"message_id": msg_id, "chat_id": "oc_b2", "message_type": "text", "content": content}
    return {
        "schema": "2.0",
        "header": {"event_id": f"ev-{msg_id}", "event_type": "im.message.receive_v1", "token": token},
        "event": {
            "sender": {"sender_id": {"open_id": "ou_1"}},
            "message": message | {"create_time": str(at_ms)},
        },
    }


def lark(
    desk: Desk, msg_id: str, text: str, *, key: str = LARK_KEY, token: str = LARK_TOKEN, age_s: float = 0
) -> httpx.Response:
    now_ms = ms_from_utc(desk.clock.now())
    raw = json.dumps(lark_body(msg_id, text, token, now_ms), ensure_ascii=False).encode()
    timestamp, nonce = str(now_ms // 1000 - int(age_s)), "n0nce"
    headers = {
        "X-Lark-Request-Timestamp": timestamp,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": feishu.signature(timestamp, nonce, key, raw),
        "Content-Type": "application/json",
    }
    return desk.http.post("/api/v1/chat/feishu/b2-owners", content=raw, headers=headers)


def test_a_signed_dingtalk_message_is_read_and_kept_once(desk: Desk) -> None:
    first = ding(desk, "m1", "电梯又坏了，无语")
    assert first.status_code == 200, first.text
    assert first.json()["duplicate"] is False
    again = ding(desk, "m1", "电梯又坏了，无语")  # the platform retries
    assert again.json()["duplicate"] is True
    assert kept(desk) == 1


def test_dingtalk_refuses_a_bad_signature_and_a_stale_timestamp(desk: Desk) -> None:
    forged = ding(desk, "m2", "电梯坏了", secret="guessed")
    assert forged.status_code == 401 and "bad signature" in forged.json()["detail"]
    stale = ding(desk, "m3", "电梯坏了", age_s=3601)
    assert stale.status_code == 401 and "stale" in stale.json()["detail"]
    fresh = ding(desk, "m4", "电梯坏了", age_s=3500)  # within the hour
    assert fresh.status_code == 200
    unsigned = desk.http.post("/api/v1/chat/dingtalk/b1-owners", json={"msgId": "m5"})
    assert unsigned.status_code == 401
    assert kept(desk) == 1


def test_feishu_answers_its_url_verification_only_with_the_right_token(desk: Desk) -> None:
    good = {"challenge": "ajls384kdjx98XX", "token": LARK_TOKEN, "type": "url_verification"}
    answer = desk.http.post("/api/v1/chat/feishu/b2-owners", json=good)
    assert answer.status_code == 200 and answer.json() == {"challenge": "ajls384kdjx98XX"}
    wrong = desk.http.post("/api/v1/chat/feishu/b2-owners", json=good | {"token": "nope"})
    assert wrong.status_code == 401


def test_a_signed_feishu_event_is_read_and_bad_or_stale_ones_are_refused(desk: Desk) -> None:
    good = lark(desk, "om_1", "2号楼又停水了，搞什么")
    assert good.status_code == 200, good.text
    assert good.json()["read"] is True and good.json()["duplicate"] is False
    assert lark(desk, "om_1", "2号楼又停水了，搞什么").json()["duplicate"] is True
    assert lark(desk, "om_2", "停水", key="wrong-key").status_code == 401
    assert lark(desk, "om_3", "停水", token="wrong-token").status_code == 401
    assert lark(desk, "om_4", "停水", age_s=3601).status_code == 401
    assert kept(desk) == 1


def test_the_route_is_idempotent_by_msg_id_and_masks_on_arrival(desk: Desk) -> None:
    first = desk.say("b1-owners", "wx-1", "电梯坏了，联系我13812345678", T0)
    assert first.status_code == 201, first.text
    assert first.json()["complaint"] is True and first.json()["asset_kind"] == "elevator"
    again = desk.say("b1-owners", "wx-1", "电梯坏了，联系我13812345678", T0 + timedelta(seconds=5))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    with desk.engine.connect() as conn:
        [text] = conn.execute(select(chat_messages.c.text)).scalars().all()
    assert text == "电梯坏了，联系我138****5678"
    columns = {c.name for c in chat_messages.columns}
    assert "sender" not in columns  # no owner is scored or labelled


def test_unknown_groups_and_anonymous_callers_are_refused(desk: Desk) -> None:
    assert desk.say("nowhere", "x1", "电梯坏了", T0).status_code == 404
    body = {"site": "lakeside", "group": "b1-owners", "msg_id": "x2", "text": "hi", "ts": 0}
    assert desk.http.post("/api/v1/chat/messages", json=body).status_code == 401
    assert desk.http.post("/api/v1/chat/dingtalk/b2-owners", json={}).status_code == 404  # b2 is on Feishu


def test_chat_text_is_kept_for_keep_days_then_only_its_figures(desk: Desk) -> None:
    desk.say("b1-owners", "old", "电梯又坏了，无语", T0)
    desk.say("b1-owners", "new", "又停水了", T0 + timedelta(days=29))
    chat = ChatService.build(desk.engine, desk.site, desk.service)
    assert chat.purge(T0 + timedelta(days=30, seconds=1)) == 1
    with desk.engine.connect() as conn:
        rows = {r.msg_id: r for r in conn.execute(select(chat_messages))}
    assert rows["old"].text is None and rows["old"].complaint and rows["old"].keywords == 2  # figures stay
    assert rows["new"].text == "又停水了"
    assert chat.purge(T0 + timedelta(days=30, seconds=2)) == 0  # once
