"""DingTalk robot callback (outgoing robot): a group message @-ing the robot is POSTed to us, signed.

The request carries headers ``timestamp`` (epoch ms) and ``sign``: base64 of HMAC-SHA256 keyed with the
robot's app secret over ``timestamp + "\\n" + secret``. A timestamp more than an hour from now is refused.
The body is JSON: ``msgId``, ``conversationId``, ``senderNick``, ``createAt``, ``text.content``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from api.connectors.message import BadSignature, ChatRefused, PlatformMessage, check_age


def signature(timestamp: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(headers: Mapping[str, str], secret: str, now_ms: int) -> None:
    """Raises BadSignature or Stale."""
    timestamp, sign = headers.get("timestamp", ""), headers.get("sign", "")
    if not timestamp.isdigit() or not sign:
        raise BadSignature("missing timestamp or sign header")
    if not hmac.compare_digest(signature(timestamp, secret).encode(), sign.encode()):
        raise BadSignature("sign does not match")
    check_age(int(timestamp), now_ms)


def parse(body: Mapping[str, Any], conversation: str) -> PlatformMessage:
    """Raises ChatRefused for a body that is not a text message of the group's conversation."""
    text = body.get("text")
    content = text.get("content") if isinstance(text, dict) else None
    msg_id, created = body.get("msgId"), body.get("createAt")
    if not isinstance(content, str) or not isinstance(msg_id, str) or not isinstance(created, int):
        raise ChatRefused("not a DingTalk text message (msgId, createAt, text.content)")
    if conversation and body.get("conversationId") != conversation:
        raise ChatRefused("message from another conversation than the group's")
    sender = body.get("senderNick") or body.get("senderId") or ""
    return PlatformMessage(f"dingtalk:{msg_id}", str(sender), content.strip(), created)
