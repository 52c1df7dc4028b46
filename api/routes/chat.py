"""Owners' chat: ``POST /chat/messages`` (integration scope) and the platform callbacks that feed it.

The DingTalk and Feishu callbacks are open (the platforms send no bearer token) but checked for their
signature (api/connectors/dingtalk.py, feishu.py): a bad one answers 401, a stale one 401. Every message is
idempotent by ``msg_id``: the first answers 201, a repeat 200 with ``duplicate: true`` and changes nothing.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from alerts.engine.chat import ChatMessage, ChatService, Received, UnknownGroup
from api.connectors import dingtalk, feishu
from api.connectors.message import BadSignature, ChatRefused, PlatformMessage, Stale
from api.deps import ApiServices, Integration, Services
from api.errors import UNPROCESSABLE
from api.multisite import site_service
from api.responses import AUTHENTICATED, INVALID, TOO_LARGE, ErrorOut, Responses, body, example, missing
from api.text import storable
from facwatch.model import ms_from_utc

router = APIRouter(prefix="/chat", tags=["chat"])
CALLBACK: Responses = {
    **body(missing("chat group"), INVALID),
    401: {"model": ErrorOut, "description": "A missing or wrong signature, token or timestamp"},
}
_lock = threading.Lock()
GroupId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class ChatIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "site": "lakeside",
                    "group": "owners-b1",
                    "msg_id": "wecom-88121",
                    "sender": "wxid_7f3",
                    "text": "电梯又停了，困了人！",
                    "ts": "2024-05-01T08:00:00Z",
                }
            ]
        }
    )
    site: str = Field(description="Id of the site", min_length=1, max_length=64)
    group: str = Field(min_length=1, max_length=64, description="A chat group named in the site file")
    msg_id: str = Field(
        min_length=1, max_length=200, description="The platform's id: a repeat changes nothing"
    )
    sender: str = Field(default="", max_length=200, description="Not kept: no owner is scored or labelled")
    text: str = Field(
        description="The message's text (masked before it is kept)", min_length=1, max_length=4000
    )
    ts: int | datetime = Field(description="When it was sent: epoch ms or ISO-8601")


class ChatOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "msg_id": "wecom-88121",
                    "duplicate": False,
                    "complaint": True,
                    "asset_kind": "elevator",
                    "mood": "angry",
                    "ticket_id": "T9",
                }
            ]
        }
    )
    msg_id: str = Field(description="The message's id")
    duplicate: bool = Field(description="A repeat of a known msg_id: nothing changed")
    complaint: bool = Field(description="Judged a complaint about the facilities")
    asset_kind: str | None = Field(description="The kind of machine it is about, if recognised")
    mood: str = Field(description="The message's mood")
    ticket_id: str | None = Field(
        description="The ticket it opened or joined, if any (null when another process judges the site: it does so "
        "within seconds)"
    )


def chat_service(request: Request, services: ApiServices, site_id: str | None = None) -> ChatService:
    """One site's (default: the first), built on first use (its segmenter takes about a second to load) and
    kept on the app."""
    site = services.all_sites().get(site_id or services.site.id)
    if site is None:
        raise UnknownGroup(f"unknown site {site_id!r}")
    with _lock:
        chats: dict[str, ChatService] | None = getattr(request.app.state, "chats", None)
        if chats is None:
            chats = request.app.state.chats = {}
        chat = chats.get(site.id)
        if chat is None:
            alerts = site_service(services.alerts, site.id)
            sid = site.id
            chat = chats[sid] = ChatService.build(
                services.tokens.engine, site, alerts, judges=lambda: services.judges_site(sid)
            )
        return chat


async def _receive(request: Request, services: ApiServices, message: ChatMessage) -> Received:
    message = replace(  # kept, never refused for a stray character (api/text.py)
        message,
        group=storable(message.group),
        msg_id=storable(message.msg_id),
        sender=storable(message.sender),
        text=storable(message.text),
    )

    def work() -> Received:
        return chat_service(request, services, message.site).receive(message, services.clock.now())

    try:
        return await anyio.to_thread.run_sync(work)
    except UnknownGroup as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


def _from(services: ApiServices, group: str, message: PlatformMessage) -> ChatMessage:
    return ChatMessage(services.site.id, group, message.msg_id, message.sender, message.text, message.ts_ms)


def _answer(received: Received) -> JSONResponse:
    body = ChatOut(
        msg_id=received.msg_id,
        duplicate=received.duplicate,
        complaint=received.complaint,
        asset_kind=received.asset_kind.value if received.asset_kind else None,
        mood=received.mood.value,
        ticket_id=received.ticket_id,
    )
    code = status.HTTP_200_OK if received.duplicate else status.HTTP_201_CREATED
    return JSONResponse(body.model_dump(), status_code=code)


@router.post(
    "/messages",
    summary="Post an owners' group message",
    response_model=ChatOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "A repeat of a known msg_id: nothing changed"},
        **AUTHENTICATED,
        **TOO_LARGE,
    },
)
async def post_message(
    request: Request, services: Services, principal: Integration, body: ChatIn
) -> Response:
    """One owners' group message from a bridge (WeCom, or any other): masked, analysed, kept, judged."""
    if not principal.sees(body.site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown site {body.site!r}")
    ts = body.ts if isinstance(body.ts, int) else ms_from_utc(body.ts)
    message = ChatMessage(body.site, body.group, body.msg_id, body.sender, body.text, ts)
    return _answer(await _receive(request, services, message))


def _unauthorized(exc: ChatRefused) -> HTTPException:
    reason = "stale request" if isinstance(exc, Stale) else "bad signature"
    return HTTPException(status.HTTP_401_UNAUTHORIZED, f"{reason}: {exc}")


async def _json(request: Request) -> tuple[bytes, dict[str, Any]]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise HTTPException(UNPROCESSABLE, "the body is not JSON") from exc
    if not isinstance(body, dict):
        raise HTTPException(UNPROCESSABLE, "the body is not a JSON object")
    return raw, body


def _group(services: ApiServices, group_id: str, platform: str) -> Any:
    group = services.site.chat.group(group_id)
    if group is None or group.platform != platform:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {platform} chat group {group_id!r}")
    return group


@router.post(
    "/dingtalk/{group}",
    summary="Receive a DingTalk robot callback",
    responses={**CALLBACK, **example({"msgtype": "empty", "duplicate": False})},
)
async def dingtalk_callback(request: Request, services: Services, group: GroupId) -> Response:
    """The DingTalk robot's callback for a group (open; signed with the robot's secret)."""
    chat = _group(services, group, "dingtalk")
    try:
        dingtalk.verify(request.headers, chat.secret, ms_from_utc(services.clock.now()))
    except ChatRefused as exc:
        raise _unauthorized(exc) from exc
    _, body = await _json(request)
    try:
        message = dingtalk.parse(body, chat.conversation)
    except ChatRefused as exc:
        raise HTTPException(UNPROCESSABLE, str(exc)) from exc
    received = await _receive(request, services, _from(services, chat.id, message))
    return JSONResponse({"msgtype": "empty", "duplicate": received.duplicate})


@router.post(
    "/feishu/{group}",
    summary="Receive a Feishu event callback",
    responses={**CALLBACK, **example({"ok": True, "read": True, "duplicate": False})},
)
async def feishu_callback(request: Request, services: Services, group: GroupId) -> Response:
    """The Feishu event callback for a group (open; verification token, and signature with an encrypt key)."""
    chat = _group(services, group, "feishu")
    raw, body = await _json(request)
    try:
        answer = feishu.challenge(body, chat.secret)
        if answer is not None:
            return JSONResponse({"challenge": answer})
        feishu.verify(request.headers, raw, chat.encrypt_key, ms_from_utc(services.clock.now()))
        message = feishu.parse(body, chat.secret, chat.conversation)
    except ChatRefused as exc:
        if isinstance(exc, BadSignature | Stale):
            raise _unauthorized(exc) from exc
        raise HTTPException(UNPROCESSABLE, str(exc)) from exc
    if message is None:
        return JSONResponse({"ok": True, "read": False})
    received = await _receive(request, services, _from(services, chat.id, message))
    return JSONResponse({"ok": True, "read": True, "duplicate": received.duplicate})
