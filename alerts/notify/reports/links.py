"""Signed links to a report's read-only page: no login, an HMAC-SHA256 over what the page shows and when the
link expires (pure). Changing any part of the link (building, report, period, language, expiry) breaks the
signature; a link past its expiry is refused even with a good signature."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import quote, urlencode

PATH = "/owners/reports"


@dataclass(frozen=True, slots=True)
class PageRef:
    """One report page: ``subject`` is the period (``2026-11``, ``2026-Q4``) or the ticket (``T-000012``)."""

    site: str
    building: str
    kind: str
    subject: str
    lang: str
    expires: int
    """Epoch seconds after which the link is refused."""

    def message(self) -> bytes:
        return "\n".join(("facwatch-report-v1", self.site, self.building, self.kind, self.subject, self.lang,
                          str(self.expires))).encode("utf-8")  # fmt: skip


class LinkCheck(StrEnum):
    OK = "the link is good"
    BAD_SIGNATURE = "the link's signature does not match: it was changed or not made here"
    EXPIRED = "the link has expired"


def sign(secret: str, ref: PageRef) -> str:
    return hmac.new(secret.encode("utf-8"), ref.message(), hashlib.sha256).hexdigest()


def check(secret: str, ref: PageRef, signature: str, now: datetime) -> LinkCheck:
    """Whether a page may be shown: the signature first (compared in constant time), then the expiry."""
    if not hmac.compare_digest(sign(secret, ref), signature):
        return LinkCheck.BAD_SIGNATURE
    if now.timestamp() > ref.expires:
        return LinkCheck.EXPIRED
    return LinkCheck.OK


def page_path(ref: PageRef) -> str:
    parts = (ref.site, ref.building, ref.kind, ref.subject)
    return PATH + "/" + "/".join(quote(p, safe="") for p in parts)


def link(base_url: str, secret: str, ref: PageRef) -> str:
    query = urlencode({"lang": ref.lang, "expires": ref.expires, "sig": sign(secret, ref)})
    return f"{base_url.rstrip('/')}{page_path(ref)}?{query}"
