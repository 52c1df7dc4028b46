"""Webhooks: ``POST /webhooks`` subscribes a URL to alert and/or ticket events; list, delete, delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from api.auth import Principal, Scope
from api.deps import Integration, Services
from api.errors import http_errors, not_found
from api.responses import AUTHENTICATED, TOO_LARGE, missing, page_of
from api.routes.common import Cursor, Limit, every_site
from api.schemas import PageOut
from api.text import TextIn
from api.webhooks import ROLLOVER, Delivery, Webhook, WebhookStore

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=AUTHENTICATED)

WebhookId = Annotated[str, Path(min_length=1, max_length=64)]
NOT_FOUND = missing("webhook")


class WebhookIn(TextIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://tickets.example.com/hooks/facwatch", "events": ["ticket", "alert"]}]
        },
    )

    url: HttpUrl = Field(
        max_length=2000,
        description="Where deliveries are POSTed: https, to a public address (see the allow-list settings)",
    )
    events: list[Literal["alert", "ticket"]] = Field(
        description="Which changes to deliver: `alert`, `ticket`", min_length=1, max_length=2
    )
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="Shared secret (Standard Webhooks: `whsec_` + base64); generated when absent",
    )


class WebhookOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "W3",
                    "url": "https://tickets.example.com/hooks/facwatch",
                    "events": ["ticket"],
                    "owner": "erp",
                    "created_at": "2024-05-01T08:00:00Z",
                }
            ]
        }
    )
    id: str = Field(description="The subscription's id")
    url: str = Field(description="Where deliveries go")
    events: list[str] = Field(description="Which changes are delivered")
    owner: str = Field(description="Name of the token that subscribed")
    created_at: datetime = Field(description="When it was made")

    @classmethod
    def from_webhook(cls, hook: Webhook) -> WebhookOut:
        return cls(
            id=hook.id, url=hook.url, events=list(hook.events), owner=hook.owner, created_at=hook.created_at
        )


class WebhookCreatedOut(WebhookOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "W3",
                    "url": "https://tickets.example.com/hooks/facwatch",
                    "events": ["ticket"],
                    "owner": "erp",
                    "created_at": "2024-05-01T08:00:00Z",
                    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                }
            ]
        }
    )
    secret: str = Field(description="Shown once: verify `webhook-signature` with it (Standard Webhooks)")


class RotatedOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "secret": "whsec_dGhlIG5ldyBzZWNyZXQgb2YgdGhpcyBob29r",
                    "previous_valid_until": "2024-05-02T08:00:00Z",
                }
            ]
        }
    )
    secret: str = Field(description="The new secret, shown once")
    previous_valid_until: datetime = Field(description="Until then deliveries are signed with both secrets")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 17,
                    "event_type": "ticket",
                    "event_id": 240,
                    "status": "delivered",
                    "attempts": 1,
                    "next_attempt_at": None,
                    "last_status": 200,
                    "last_error": None,
                    "created_at": "2024-05-01T08:00:00Z",
                    "delivered_at": "2024-05-01T08:00:01Z",
                }
            ]
        }
    )
    id: int = Field(description="The delivery's id")
    event_type: str = Field(description="`alert` or `ticket`")
    event_id: int = Field(description="Id of the event delivered")
    status: Literal["pending", "delivered", "failed"] = Field(description="pending, delivered or failed")
    attempts: int = Field(description="Attempts so far")
    next_attempt_at: datetime | None = Field(description="When it is tried next, if pending")
    last_status: int | None = Field(description="HTTP status of the last attempt")
    last_error: str | None = Field(description="The last attempt's error, if any")
    created_at: datetime = Field(description="When the delivery was queued")
    delivered_at: datetime | None = Field(description="When a receiver took it")

    @classmethod
    def from_delivery(cls, d: Delivery) -> DeliveryOut:
        return cls.model_validate(d, from_attributes=True)


def _store(request: Request) -> WebhookStore:
    store: WebhookStore = request.app.state.webhooks
    return store


def _owner(principal: Principal) -> str | None:
    """Whose subscriptions the caller sees: a manager or admin every owner's, anyone else their own."""
    return None if principal.allows(Scope.MANAGER) else principal.name


@router.post(
    "",
    summary="Subscribe a webhook",
    response_model=WebhookCreatedOut,
    status_code=status.HTTP_201_CREATED,
    responses=TOO_LARGE,
)
def subscribe(
    request: Request, services: Services, principal: Integration, body: WebhookIn
) -> WebhookCreatedOut:
    """Deliveries of alert and ticket changes to a URL, signed (Standard Webhooks). The secret is answered once."""
    every_site(principal, "webhooks")
    with http_errors():
        hook, secret = _store(request).subscribe(
            str(body.url), body.events, principal.name, services.clock.now(), body.secret
        )
    return WebhookCreatedOut(**WebhookOut.from_webhook(hook).model_dump(), secret=secret)


@router.get("", summary="List webhooks", response_model=PageOut[WebhookOut], responses=page_of(WebhookOut))
def list_webhooks(
    request: Request, principal: Integration, limit: Limit = 100, cursor: Cursor = None
) -> PageOut[WebhookOut]:
    """The caller's subscriptions (a manager or admin sees every owner's)."""
    with http_errors():
        page = _store(request).page(limit, cursor, _owner(principal))
    return PageOut[WebhookOut](items=[WebhookOut.from_webhook(h) for h in page.items], next=page.next)


@router.get("/{webhook_id}", summary="Get one webhook", response_model=WebhookOut, responses=NOT_FOUND)
def get_webhook(request: Request, principal: Integration, webhook_id: WebhookId) -> WebhookOut:
    """One subscription (someone else's is a 404 unless the caller is a manager or admin)."""
    hook = _store(request).get(webhook_id, _owner(principal))
    if hook is None:
        raise not_found(f"no webhook {webhook_id!r}")
    return WebhookOut.from_webhook(hook)


@router.delete(
    "/{webhook_id}",
    summary="Unsubscribe a webhook",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
)
def unsubscribe(request: Request, principal: Integration, webhook_id: WebhookId) -> Response:
    """Deletes the subscription: no further deliveries."""
    if not _store(request).remove(webhook_id, _owner(principal)):
        raise not_found(f"no webhook {webhook_id!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/rotate",
    summary="Rotate a webhook's secret",
    response_model=RotatedOut,
    responses=NOT_FOUND,
)
def rotate(request: Request, services: Services, principal: Integration, webhook_id: WebhookId) -> RotatedOut:
    """A new secret. For 24 hours every delivery carries two signatures (new and previous secret), so the
    receiver can switch to the new one whenever it likes within that time."""
    now = services.clock.now()
    secret = _store(request).rotate(webhook_id, now, _owner(principal))
    if secret is None:
        raise not_found(f"no webhook {webhook_id!r}")
    return RotatedOut(secret=secret, previous_valid_until=now + ROLLOVER)


@router.get(
    "/{webhook_id}/deliveries",
    summary="List a webhook's deliveries",
    response_model=PageOut[DeliveryOut],
    responses={**NOT_FOUND, **page_of(DeliveryOut)},
)
def deliveries(
    request: Request,
    principal: Integration,
    webhook_id: WebhookId,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> PageOut[DeliveryOut]:
    """The delivery log, newest first: status, attempts, the last HTTP status or error."""
    store = _store(request)
    if store.get(webhook_id, _owner(principal)) is None:
        raise not_found(f"no webhook {webhook_id!r}")
    with http_errors():
        page = store.deliveries(webhook_id, limit, cursor)
    return PageOut[DeliveryOut](items=[DeliveryOut.from_delivery(d) for d in page.items], next=page.next)
