"""Feishu (Lark) event callback: ``im.message.receive_v1`` and the URL-verification challenge.

Every body carries the app's verification token (``token`` in the challenge, ``header.token`` in an event),
compared in constant time. When the app has an encrypt key, Feishu also signs the request: headers
``X-Lark-Request-Timestamp`` (epoch s), ``X-Lark-Request-Nonce`` and ``X-Lark-Signature``, the hex SHA-256
of ``timestamp + nonce + encrypt_key + body``; a timestamp more than an hour from now is refused. Encrypted
bodies (``{"encrypt": ...}``) are refused with a clear message: configure the app without body encryption
(docs/owners.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from api.connectors.message import BadSignature, ChatRefused, PlatformMessage, check_age

EVENT = "im.message.receive_v1"


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256(timestamp.encode() + nonce.encode() + encrypt_key.encode() + body).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, encrypt_key: str, now_ms: int) -> None:
    """The signature, when the group has an encrypt key. Raises BadSignature or Stale."""
    if not encrypt_key:
        return
    timestamp = headers.get("x-lark-request-timestamp", "")
    nonce, sign = headers.get("x-lark-request-nonce", ""), headers.get("x-lark-signature", "")
    if not timestamp.isdigit() or not sign:
        raise BadSignature("missing X-Lark-Request-Timestamp or X-Lark-Signature")
    if not hmac.compare_digest(signature(timestamp, nonce, encrypt_key, body).encode(), sign.encode()):
        raise BadSignature("X-Lark-Signature does not match")
    check_age(int(timestamp) * 1000, now_ms)


def _token_ok(given: object, token: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), token.encode())


def challenge(body: Mapping[str, Any], token: str) -> str | None:
    """The challenge to answer, when this is the URL verification. Raises BadSignature (wrong token)."""
    if body.get("type") != "url_verification":
        return None
    if not _token_ok(body.get("token"), token):
        raise BadSignature("verification token does not match")
    return str(body.get("challenge", ""))


def parse(body: Mapping[str, Any], token: str, conversation: str) -> PlatformMessage | None:
    """The message, or None for an event we do not read (not a text message). Raises ChatRefused."""
    if "encrypt" in body:
        raise ChatRefused(
            "encrypted Feishu events are not supported: turn body encryption off (docs/owners.md)"
        )
    header = body.get("header")
    if not isinstance(header, dict) or not _token_ok(header.get("token"), token):
        raise BadSignature("verification token does not match")
    if header.get("event_type") != EVENT:
        return None
    event = body.get("event")
    message = event.get("message") if isinstance(event, dict) else None
    if not isinstance(message, dict) or message.get("message_type") != "text":
        return None
    if conversation and message.get("chat_id") != conversation:
        raise ChatRefused("message from another chat than the group's")
    try:
        text = json.loads(str(message.get("content", "")))["text"]
        created = int(str(message.get("create_time")))
    except (ValueError, KeyError, TypeError) as exc:
        raise ChatRefused("not a Feishu text message (message.content, message.create_time)") from exc
    sender = (
        event.get("sender", {}).get("sender_id", {}).get("open_id", "") if isinstance(event, dict) else ""
    )
    return PlatformMessage(f"feishu:{message.get('message_id')}", str(sender), str(text).strip(), created)
