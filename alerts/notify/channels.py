"""The one seam to the outside for notifications: apprise, and two schemes of facwatch's own.

``apprise_send(url, title, body, outgoing)`` delivers one message to one target or raises ``DeliveryFailed``
with apprise's own words. On ``json://``, ``xml://`` and ``form://`` targets it adds the header
``X-Facwatch-Ref`` (the message's reference), so a receiver can tell a repeat after an unknown outcome.

Two apprise schemes are registered on import, so that the demo's targets work: ``console://`` prints the
message, and ``jsonl:///abs/path.jsonl`` (or ``jsonl://relative/path``, taken from the working directory)
appends one JSON line ``{"ts","title","body","audience","ticket_id"}``.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import apprise
from apprise.decorators import notify as apprise_notify

from alerts.engine.db import ticket_ref, utc_now
from alerts.notify.audiences import Outgoing, ref_of


class DeliveryFailed(Exception):
    """A target refused or could not be reached; the text says why (stored on the receipt)."""


_KEY_HEADER_SCHEMES = ("json://", "jsons://", "xml://", "xmls://", "form://", "forms://")


def apprise_send(url: str, title: str, body: str, outgoing: Outgoing) -> None:
    """Send through apprise; raise DeliveryFailed with apprise's own words when it fails."""
    if url.startswith("jsonl://"):
        url = _jsonl_url(url, outgoing)
    elif url.startswith(_KEY_HEADER_SCHEMES) and outgoing.key:
        url += ("&" if "?" in url else "?") + urlencode({"+X-Facwatch-Ref": ref_of(outgoing.key)})
    client = apprise.Apprise()
    if not client.add(url):
        raise DeliveryFailed("not a usable apprise URL")
    capture = apprise.LogCapture(level=apprise.logging.WARNING)  # type: ignore[no-untyped-call]
    with capture as captured:
        ok = client.notify(body=body, title=title)
    if not ok:
        detail = captured.getvalue().strip().splitlines()
        raise DeliveryFailed(detail[-1] if detail else "apprise reported a failure")


_jsonl_lock = threading.Lock()


def _jsonl_url(url: str, outgoing: Outgoing) -> str:
    """An absolute ``jsonl://`` URL carrying the audience and ticket (the plugin sees only the URL).

    apprise cannot tell ``jsonl:///abs`` from ``jsonl://rel``, so a relative path is made absolute
    here, against the working directory, before apprise parses it.
    """
    raw, _, query = url[len("jsonl://") :].partition("?")
    path = Path(unquote(raw)).expanduser().resolve()
    extra = {"audience": outgoing.audience}
    if outgoing.ticket_id is not None:
        extra["ticket_id"] = ticket_ref(outgoing.ticket_id)
    params = f"{query}&{urlencode(extra)}" if query else urlencode(extra)
    return f"jsonl://{quote(str(path))}?{params}"


def jsonl_path(meta: dict[str, Any]) -> Path:
    """The file of ``jsonl:///abs/path``: apprise reads the first path segment as a host, so put it back."""
    host = unquote(str(meta.get("host") or ""))
    rest = unquote(str(meta.get("fullpath") or ""))
    return Path("/" + host + rest) if host else Path(rest)


def _jsonl(body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any, **kwargs: Any) -> bool:
    path = jsonl_path(meta)
    qsd = meta.get("qsd") or {}
    line = {
        "ts": utc_now(datetime.now().astimezone()).isoformat(),
        "title": title,
        "body": body,
        "audience": qsd.get("audience"),
        "ticket_id": qsd.get("ticket_id"),
    }
    data = json.dumps(line, ensure_ascii=False) + "\n"
    with _jsonl_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(data)
    return True


def _console(body: str, title: str, *args: Any, **kwargs: Any) -> bool:
    text = f"{title}\n{body}" if title else body
    sys.stdout.write(f"{text}\n\n")
    sys.stdout.flush()
    return True


def _register(scheme: str, name: str, func: Callable[..., bool]) -> None:
    decorator = apprise_notify(on=scheme, name=name)  # type: ignore[no-untyped-call]
    decorator(func)


_register("jsonl", "JSON lines file", _jsonl)
_register("console", "Console", _console)


__all__ = ["DeliveryFailed", "apprise_send", "jsonl_path"]
