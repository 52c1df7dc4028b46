"""A report as owners see it: sections of words and tables (pure), written as an HTML page with its charts
inline, as a printable PDF (matplotlib's PdfPages: a text page, then the charts), and as a short message
from the templates (``templates/{zh,en}/report_{kind}.txt``; first line the title).
"""

from __future__ import annotations

import base64
import html
import io
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from importlib import resources
from typing import TYPE_CHECKING

from alerts.engine.report_figures import MonthlyFigures, QuarterlyFigures, RepairFigures
from alerts.notify.reports.words import action_name, change, duration, level_name, money, name, when, word
from facwatch.model import Site

if TYPE_CHECKING:  # matplotlib is imported when a report is drawn, not when a process starts (seconds)
    from matplotlib.figure import Figure

    from alerts.notify.reports.charts import Chart

Figures = MonthlyFigures | RepairFigures | QuarterlyFigures


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    lines: tuple[str, ...] = ()
    table: tuple[tuple[str, ...], ...] = ()
    """First row: the header."""


@dataclass(frozen=True, slots=True)
class Document:
    kind: str
    lang: str
    title: str
    subtitle: str
    sections: tuple[Section, ...]
    fields: Mapping[str, str]
    """What the message templates may use."""


def kind_of(figures: Figures) -> str:
    if isinstance(figures, MonthlyFigures):
        return "monthly"
    return "repair" if isinstance(figures, RepairFigures) else "quarterly"


def document(figures: Figures, site: Site, lang: str, currency: str = "¥") -> Document:
    if isinstance(figures, MonthlyFigures):
        return _monthly(figures, site, lang)
    if isinstance(figures, RepairFigures):
        return _repair(figures, site, lang, currency)
    return _quarterly(figures, site, lang, currency)


def _building(site: Site, building: str, lang: str) -> str:
    found = next((b for b in site.buildings if b.id == building), None)
    return name(found.name, lang) if found is not None else building


def _asset(site: Site, asset: str, lang: str) -> str:
    found = site.asset(asset)
    return name(found.name, lang) if found is not None else asset


def _number(value: float | None, lang: str) -> str:
    return word(lang, "none") if value is None else f"{value:.3g}"


def _monthly(f: MonthlyFigures, site: Site, lang: str) -> Document:
    tz = site.timezone
    building = _building(site, f.building, lang)
    w = partial(word, lang)
    visits = tuple((when(v.at, tz), _asset(site, v.asset, lang), w(v.kind), v.by, v.note) for v in f.visits)
    machines = tuple(
        (name(a.name, lang), w("none") if a.hours_run is None else f"{a.hours_run:.1f}",
         w("none") if a.trips is None else str(a.trips), str(a.visits), str(a.incidents))
        for a in f.assets
    )  # fmt: skip
    incidents = tuple(
        (r.ref, when(r.created_at, tz), _asset(site, r.asset, lang), level_name(lang, r.level.value),
         duration(r.response_s, lang), duration(r.on_site_s, lang), duration(r.fix_s, lang))
        for r in f.incidents
    )  # fmt: skip
    fields = {
        "building": building, "period": f.period.label, "visits": str(f.maintenance_visits),
        "inspections": str(f.inspections), "fault_free_days": str(f.fault_free_days), "days": str(f.days),
        "incidents": str(len(f.incidents)), "response": duration(f.response_p50_s, lang),
        "fix": duration(f.fix_p50_s, lang),
    }  # fmt: skip
    summary = (
        f"{w('visits')}: {f.maintenance_visits} {w('maintenance')}, {f.inspections} {w('inspection')}",
        f"{w('fault_free_days')}: {f.fault_free_days} / {f.days} {w('days')}",
        f"{w('incidents')}: {len(f.incidents)}; {w('median_response')} {fields['response']}; "
        f"{w('median_fix')} {fields['fix']}",
    )
    sections = (
        Section(w("monthly"), summary),
        Section(w("visits"), () if visits else (w("no_visits"),),
                ((w("opened"), w("asset"), w("kind"), w("by"), w("note")), *visits) if visits else ()),
        Section(w("machines"), (), ((w("asset"), w("hours_run"), w("trips"), w("maintenance"), w("incidents")),
                                      *machines)),
        Section(w("incidents"), () if incidents else (w("no_incidents"),),
                ((w("ticket"), w("opened"), w("asset"), w("level"), w("response"), w("on_site"), w("fix")),
                 *incidents) if incidents else ()),
    )  # fmt: skip
    return Document(
        "monthly", lang, f"{w('monthly')} · {building}", f"{w('period')} {f.period.label}", sections, fields
    )


def _repair(f: RepairFigures, site: Site, lang: str, currency: str) -> Document:
    tz = site.timezone
    w = partial(word, lang)
    t = f.ticket
    asset = _asset(site, t.asset, lang)
    fields = {
        "asset": asset, "building": _building(site, t.building, lang), "ticket": t.ref,
        "occurrences": str(len(f.occurrences)), "fixed_at": when(t.fixed_at, tz) if t.fixed_at else w("none"),
        "channel": f.channel, "before": _number(f.before_mean, lang), "after": _number(f.after_mean, lang),
        "cost": money(t.cost, currency) if t.cost is not None else w("none"),
    }  # fmt: skip
    sections = (
        Section(w("what_happened"), (t.title, f"{w('occurrences')}: {len(f.occurrences)}",
                                     ", ".join(when(o, tz) for o in f.occurrences))),
        Section(w("what_was_done"), (), ((w("opened"), "", "", ""),
                *((when(e.ts, tz), action_name(lang, e.action), e.actor, e.note) for e in f.timeline))),
        Section(w("readings"), (f"{f.channel}: {w('before')} {w('mean')} {fields['before']} → "
                                f"{w('after')} {w('mean')} {fields['after']}",
                                f"{w('fixed_at')}: {fields['fixed_at']}; {w('cost')}: {fields['cost']}")),
    )  # fmt: skip
    return Document("repair", lang, f"{w('repair')} · {asset}", f"{w('ticket')} {t.ref}", sections, fields)


def _quarterly(f: QuarterlyFigures, site: Site, lang: str, currency: str) -> Document:
    w = partial(word, lang)
    compound = name(site.name, lang)
    cats = tuple(
        (w(c.category), str(c.repairs), str(c.previous_repairs), change(c.repairs, c.previous_repairs),
         money(c.cost, currency), money(c.previous_cost, currency), change(c.cost, c.previous_cost))
        for c in f.categories
    )  # fmt: skip
    by_level = {row.level: row for row in f.sla}
    sla = []
    for target in f.targets:
        row = by_level.get(target.level)
        sla.append((
            level_name(lang, target.level.value), str(row.tickets if row else 0),
            f"{duration(row.ack_p50_s if row else None, lang)} / {duration(target.acknowledge_s, lang)}",
            f"{duration(row.arrive_p50_s if row else None, lang)} / {duration(target.on_site_s, lang)}",
            f"{duration(row.fix_p50_s if row else None, lang)} / {duration(target.fixed_s, lang)}",
            str(row.ack_breaches + row.arrive_breaches + row.fix_breaches if row else 0),
        ))  # fmt: skip
    fields = {
        "compound": compound, "period": f.period.label, "previous": f.previous.label,
        "repairs": str(f.repairs), "previous_repairs": str(f.previous_repairs),
        "repairs_change": change(f.repairs, f.previous_repairs), "cost": money(f.cost, currency),
        "previous_cost": money(f.previous_cost, currency), "cost_change": change(f.cost, f.previous_cost),
    }  # fmt: skip
    header = (w("category"), w("this"), w("previous"), w("change"), f"{w('cost')} {w('this')}",
              f"{w('cost')} {w('previous')}", w("change"))  # fmt: skip
    sections = (
        Section(w("quarterly"), (
            f"{w('repairs')}: {f.repairs} ({w('previous')} {f.previous_repairs}, {fields['repairs_change']})",
            f"{w('cost')}: {fields['cost']} ({w('previous')} {fields['previous_cost']}, {fields['cost_change']})",
        )),
        Section(w("category"), (), (header, *cats, (w("total"), str(f.repairs), str(f.previous_repairs),
                fields["repairs_change"], fields["cost"], fields["previous_cost"], fields["cost_change"]))),
        Section(w("sla"), (f"{w('p50')} / {w('target')}",), ((w("level"), w("tickets"), w("response"),
                w("on_site"), w("fix"), w("breaches")), *sla)),
    )  # fmt: skip
    return Document(
        "quarterly",
        lang,
        f"{w('quarterly')} · {compound}",
        f"{w('period')} {f.period.label}",
        sections,
        fields,
    )


def chart_images(figures: Figures, site: Site, lang: str, currency: str = "¥") -> list[tuple[str, bytes]]:
    from alerts.notify.reports import charts

    return [(label, charts.png(fig)) for label, fig in _charts(figures, site, lang, currency)]


def _charts(figures: Figures, site: Site, lang: str, currency: str) -> list[Chart]:
    from alerts.notify.reports import charts

    if isinstance(figures, MonthlyFigures):
        return charts.monthly_charts(figures, lang)
    if isinstance(figures, RepairFigures):
        return charts.repair_charts(figures, lang, site.timezone)
    return charts.quarterly_charts(figures, lang, currency)


# --- HTML ---------------------------------------------------------------------------------------------------


def _page_template() -> string.Template:
    return string.Template(
        resources.files("alerts.notify.reports").joinpath("templates/page.html").read_text("utf-8")
    )


def html_page(
    doc: Document, images: Sequence[tuple[str, bytes]], site: Site, pdf_href: str | None = None
) -> str:
    e = html.escape
    parts: list[str] = []
    for section in doc.sections:
        parts.append(f"<section><h2>{e(section.heading)}</h2>")
        parts.extend(f"<p>{e(line)}</p>" for line in section.lines if line)
        if section.table:
            head, *rows = section.table
            parts.append(
                "<table><thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in head) + "</tr></thead><tbody>"
            )
            parts.extend("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
            parts.append("</tbody></table>")
        parts.append("</section>")
    for label, data in images:
        src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        parts.append(f'<figure><img alt="{e(label)}" data-chart="{e(label)}" src="{src}"></figure>')
    if pdf_href:
        parts.append(f'<p class="pdf"><a href="{e(pdf_href)}">PDF</a></p>')
    service = site.service_name or f"{site.name} {word(doc.lang, 'service')}"
    return _page_template().substitute(
        lang="zh-CN" if doc.lang == "zh" else "en",
        title=e(doc.title),
        subtitle=e(doc.subtitle),
        body="\n".join(parts),
        service=e(name(service, doc.lang)),
        phone=e(site.service_phone),
    )


# --- PDF ------------------------------------------------------------------------------------------------------


def _width(text: str) -> int:
    """Printed width in Latin letters: a Chinese character takes two."""
    return sum(1 if ch.isascii() else 2 for ch in text)


Line = tuple[tuple[str, ...], tuple[float, ...], float, str]
"""Cells, their left edges (fraction of the page width), font size, weight."""


def _lines(doc: Document) -> list[Line]:
    left = (0.07,)
    lines: list[Line] = [((doc.title,), left, 16, "bold"), ((doc.subtitle,), left, 11, "normal")]
    for section in doc.sections:
        lines.append(((section.heading,), left, 13, "bold"))
        lines.extend(((line[:110],), left, 10, "normal") for line in section.lines if line)
        if section.table:
            widths = [max(_width(row[i]) for row in section.table) + 2 for i in range(len(section.table[0]))]
            scale = min(0.86 / sum(widths), 0.011)
            edges = tuple(0.07 + scale * sum(widths[:i]) for i in range(len(widths)))
            size = 9 if scale >= 0.009 else 7
            lines.extend(
                (row, edges, size, "bold" if i == 0 else "normal") for i, row in enumerate(section.table)
            )
    return lines


def _text_pages(doc: Document) -> list[Figure]:
    """The sections as A4 pages of text, tables in aligned columns."""
    from matplotlib.figure import Figure

    from alerts.notify.reports import charts

    pages: list[Figure] = []
    per_page = 46
    lines = _lines(doc)
    for start in range(0, len(lines), per_page):
        charts.cjk_family()
        fig = Figure(figsize=(8.27, 11.69), facecolor="white")
        y = 0.95
        for cells, edges, size, weight in lines[start : start + per_page]:
            if size >= 13 and y < 0.94:
                y -= 0.012  # room before a heading
            for cell, x in zip(cells, edges, strict=True):
                fig.text(x, y, cell, fontsize=size, fontweight=weight, va="top")
            y -= 0.019 * size / 10 + 0.004
        pages.append(fig)
    return pages


def pdf(figures: Figures, site: Site, lang: str, currency: str = "¥", now: datetime | None = None) -> bytes:
    from matplotlib.backends.backend_pdf import PdfPages

    doc = document(figures, site, lang, currency)
    buffer = io.BytesIO()
    metadata: dict[str, str | datetime] = {"Title": doc.title, "Subject": doc.subtitle, "Creator": "facwatch"}
    if now is not None:
        metadata["CreationDate"] = now
    with PdfPages(buffer, metadata=metadata) as out:
        for page in _text_pages(doc):
            out.savefig(page)
        for _, chart in _charts(figures, site, lang, currency):
            out.savefig(chart)
    return buffer.getvalue()


# --- the message ----------------------------------------------------------------------------------------------


def message(doc: Document, link: str | None) -> tuple[str, str]:
    """(title, body) from ``templates/{lang}/report_{kind}.txt``; the link line only when there is a link."""
    folder = resources.files("alerts.notify.reports").joinpath(
        "templates", doc.lang if doc.lang == "en" else "zh"
    )
    template = string.Template(folder.joinpath(f"report_{doc.kind}.txt").read_text("utf-8").strip("\n"))
    text = template.safe_substitute(
        {**doc.fields, "link": f"{word(doc.lang, 'link')}: {link}" if link else ""}
    )
    title, _, body = text.partition("\n")
    return title.strip(), body.strip("\n").rstrip()
