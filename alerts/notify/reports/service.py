"""Reports on demand: the figures of one report read in one transaction, then written as a page, a PDF, PNGs
and the message (``facwatch report`` writes them to a directory; the API serves the signed page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import Engine

from alerts.engine.errors import NotFound
from alerts.engine.maintenance import service_visits
from alerts.engine.periods import parse_period, period_at, previous
from alerts.engine.report_figures import VisitSource
from alerts.engine.report_reads import read_monthly, read_quarterly, read_repair
from alerts.notify.messages import languages
from alerts.notify.reports import documents
from alerts.notify.reports.documents import Figures
from alerts.notify.reports.links import LinkCheck, PageRef, check, link
from alerts.notify.reports.words import KINDS
from facwatch.config import ReportSettings, SlaSettings
from facwatch.model import Site, TelemetryReader


def last_subject(kind: str, timezone: str, now: datetime) -> str:
    """The month or quarter that ended last (what a report without a period covers)."""
    if kind not in ("monthly", "quarterly"):
        raise ValueError(f"a {kind} report names its ticket")
    period_kind = "month" if kind == "monthly" else "quarter"
    return previous(period_at(now, timezone, period_kind), timezone).label


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    html: str
    pdf: bytes
    charts: tuple[tuple[str, bytes], ...]
    message: tuple[str, str]


class Reports:
    """Reads a report's figures and writes its forms. ``telemetry`` is optional; ``visits`` defaults to the
    maintenance visits recorded in the state database."""

    def __init__(
        self,
        engine: Engine,
        site: Site,
        settings: ReportSettings | None = None,
        sla: SlaSettings | None = None,
        *,
        telemetry: TelemetryReader | None = None,
        visits: VisitSource | None = None,
    ) -> None:
        self.engine = engine
        self.site = site
        self.settings = settings or ReportSettings()
        self.sla = sla or SlaSettings()
        self.telemetry = telemetry
        self.visits = visits if visits is not None else service_visits
        """The maintenance visits recorded through the API (``alerts.engine.maintenance``) unless given."""

    def figures(self, kind: str, building: str, subject: str, now: datetime) -> Figures:
        """Raises NotFound (unknown building or ticket, a ticket of another building), ValueError (a bad
        kind or period, a ticket not fixed yet)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if all(b.id != building for b in self.site.buildings):
            raise NotFound(f"no building {building!r} in site {self.site.id!r}")
        with self.engine.connect() as conn:
            if kind == "repair":
                figures = read_repair(conn, self.site, subject, now, telemetry=self.telemetry)
                if figures.ticket.building != building:
                    raise NotFound(f"no ticket {subject} in building {building!r}")
                return figures
            period = parse_period(subject, self.site.timezone)
            if period.kind != ("month" if kind == "monthly" else "quarter"):
                raise ValueError(f"a {kind} report covers a {'month' if kind == 'monthly' else 'quarter'}")
            if kind == "monthly":
                return read_monthly(
                    conn, self.site, building, period, telemetry=self.telemetry, visits=self.visits
                )
            return read_quarterly(conn, self.site, period, self.sla)

    def link(self, kind: str, building: str, subject: str, lang: str, now: datetime) -> str | None:
        """The signed page link, or None when pages are off (no secret or no public address)."""
        secret, base = self.settings.page_secret, self.settings.public_url
        if not secret or not base:
            return None
        expires = int(now.timestamp() + self.settings.page_days * 86400)
        return link(base, secret, PageRef(self.site.id, building, kind, subject, lang, expires))

    def render(self, figures: Figures, lang: str, now: datetime, link: str | None = None) -> Rendered:
        currency = self.settings.currency
        doc = documents.document(figures, self.site, lang, currency)
        images = tuple(documents.chart_images(figures, self.site, lang, currency))
        return Rendered(
            title=doc.title,
            html=documents.html_page(doc, images, self.site),
            pdf=documents.pdf(figures, self.site, lang, currency, now),
            charts=images,
            message=documents.message(doc, link),
        )

    def page(self, ref: PageRef, signature: str, now: datetime) -> tuple[LinkCheck, str | None]:
        """The page behind a signed link: (why not, None) or (OK, its HTML, linking its PDF). Raises
        NotFound, ValueError."""
        verdict, figures, lang = self._behind(ref, signature, now)
        if figures is None:
            return verdict, None
        doc = documents.document(figures, self.site, lang, self.settings.currency)
        images = documents.chart_images(figures, self.site, lang, self.settings.currency)
        query = urlencode({"lang": ref.lang, "expires": ref.expires, "sig": signature, "format": "pdf"})
        return verdict, documents.html_page(doc, images, self.site, pdf_href=f"?{query}")

    def page_pdf(self, ref: PageRef, signature: str, now: datetime) -> tuple[LinkCheck, bytes | None]:
        """The printable PDF behind the same signed link."""
        verdict, figures, lang = self._behind(ref, signature, now)
        if figures is None:
            return verdict, None
        return verdict, documents.pdf(figures, self.site, lang, self.settings.currency, now)

    def _behind(self, ref: PageRef, signature: str, now: datetime) -> tuple[LinkCheck, Figures | None, str]:
        secret = self.settings.page_secret
        lang = languages(ref.lang)[0]
        if not secret:
            return LinkCheck.BAD_SIGNATURE, None, lang
        verdict = check(secret, ref, signature, now)
        if verdict is not LinkCheck.OK:
            return verdict, None, lang
        return verdict, self.figures(ref.kind, ref.building, ref.subject, now), lang

    def write(
        self, kind: str, building: str, subject: str, lang: str, out: Path, now: datetime
    ) -> list[Path]:
        """Write every form of one report to ``out``: ``report.{lang}.html``/``.pdf``/``.txt`` and the PNGs."""
        figures = self.figures(kind, building, subject, now)
        out.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for one in languages(lang):
            rendered = self.render(figures, one, now, self.link(kind, building, subject, one, now))
            stem = f"{kind}-{building}-{subject}.{one}"
            files = {
                f"{stem}.html": rendered.html.encode("utf-8"),
                f"{stem}.pdf": rendered.pdf,
                f"{stem}.txt": "\n\n".join(rendered.message).encode("utf-8") + b"\n",
                **{f"{stem}.{label}.png": data for label, data in rendered.charts},
            }
            for filename, data in files.items():
                path = out / filename
                path.write_bytes(data)
                written.append(path)
        return written
