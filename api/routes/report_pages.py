"""The owners' report pages: read-only HTML behind a signed link (no login), one per building and report.

``/owners/reports/{site}/{building}/{kind}/{subject}?lang=zh&expires=<epoch s>&sig=<hex>``: the signature
(HMAC-SHA256 with ``[reports] page_secret``, ``alerts.notify.reports.links``) covers every part of the link
and its expiry; ``&format=pdf`` answers the printable PDF behind the same link. A changed link or an expired one answers 403; an unknown building, period or ticket 404. The
page carries no script: its policy allows its own inline style and its charts (``data:`` images) only.
Not part of the JSON API (``/api/v1``), so not in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response

from alerts.notify.reports.links import LinkCheck, PageRef
from api.deps import Services
from api.errors import forbidden, http_errors, not_found

router = APIRouter(prefix="/owners/reports", include_in_schema=False)

PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
Part = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/{site}/{building}/{kind}/{subject}", response_class=HTMLResponse)
def report_page(
    services: Services,
    site: Part,
    building: Part,
    kind: Part,
    subject: Part,
    lang: Annotated[str, Query(pattern=r"^(zh|en|zh\+en)$")] = "zh",
    expires: Annotated[int, Query(ge=0)] = 0,
    sig: Annotated[str, Query(max_length=128)] = "",
    format: Annotated[Literal["html", "pdf"], Query()] = "html",
) -> Response:
    reports = services.reports
    if reports is None or site != services.site.id:
        raise not_found("no such report page")
    ref = PageRef(site, building, kind, subject, lang, expires)
    headers = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "private, max-age=300"}
    now = services.clock.now()
    if format == "pdf":
        with http_errors():
            verdict, document = reports.page_pdf(ref, sig, now)
        if verdict is not LinkCheck.OK or document is None:
            raise forbidden(verdict.value)
        headers["Content-Disposition"] = f'inline; filename="{kind}-{building}-{subject}.{lang}.pdf"'
        return Response(document, media_type="application/pdf", headers=headers)
    with http_errors():
        verdict, page = reports.page(ref, sig, now)
    if verdict is not LinkCheck.OK or page is None:
        raise forbidden(verdict.value)
    return HTMLResponse(page, headers=headers)
