"""The reports' charts, drawn with matplotlib's object API on the Agg backend (no display, no pyplot state, so
threads may draw at once). Chinese labels need a CJK font: the first installed family of ``CJK_FAMILIES``
(Debian's fonts-noto-cjk gives Noto Sans CJK SC); without one the charts still draw, with the English words.

Each ``*_charts`` function returns ``(name, Figure)`` pairs: ``png`` makes the page's images, and the PDF
(``alerts.notify.reports.documents``) places the same figures.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alerts.engine.report_figures import MonthlyFigures, QuarterlyFigures, RepairFigures
from alerts.notify.reports.words import level_name, name, word

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
)
BEFORE, AFTER, NOW, THEN, TARGET = "#c0392b", "#27ae60", "#2e86c1", "#aab7b8", "#7d3c98"
Chart = tuple[str, Figure]


@cache
def cjk_family() -> str | None:
    """The first installed CJK family (by its name, as fontconfig and matplotlib know it), or None.

    Found once, and put first among the sans-serif families, so every chart's text draws with it (Latin
    letters and digits too: Noto Sans CJK has them)."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    family = next((family for family in CJK_FAMILIES if family in installed), None)
    if family is not None:
        sans = [f for f in matplotlib.rcParams["font.sans-serif"] if f != family]
        matplotlib.rcParams["font.sans-serif"] = [family, *sans]
        matplotlib.rcParams["font.family"] = ["sans-serif"]
        matplotlib.rcParams["axes.unicode_minus"] = False
    return family


def chart_lang(lang: str) -> str:
    """Charts speak Chinese only when a CJK font is there to draw it (else English: never empty boxes)."""
    return lang if lang != "zh" or cjk_family() is not None else "en"


def _figure(width: float = 8.0, height: float = 3.6) -> Figure:
    cjk_family()
    return Figure(figsize=(width, height), layout="constrained", facecolor="white")


def _day(when: datetime) -> float:
    """matplotlib's date number (days since its 1970 epoch) of an aware time."""
    return when.timestamp() / 86400.0


def png(fig: Figure, dpi: int = 110) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def monthly_charts(figures: MonthlyFigures, lang: str) -> list[Chart]:
    lang = chart_lang(lang)
    fig = _figure(8.0, max(2.6, 0.5 * len(figures.assets) + 1.2))
    hours_ax, days_ax = fig.subplots(1, 2, width_ratios=(3, 1))
    labels = [name(a.name, lang) for a in figures.assets]
    hours = [a.hours_run or 0.0 for a in figures.assets]
    hours_ax.barh(labels, hours, color=NOW)
    hours_ax.invert_yaxis()
    hours_ax.set_title(word(lang, "chart_hours"))
    hours_ax.set_xlabel(word(lang, "hours_run"))
    for y, a in enumerate(figures.assets):
        hours_ax.annotate(f"  {a.visits}×{word(lang, 'maintenance')}", (hours[y], y), va="center", fontsize=8)
    faulty = figures.days - figures.fault_free_days
    days_ax.pie(
        [figures.fault_free_days, faulty],
        labels=[
            f"{word(lang, 'fault_free_days')}\n{figures.fault_free_days}",
            f"{word(lang, 'incidents')}\n{faulty}",
        ],
        colors=[AFTER, BEFORE],
        startangle=90,
        wedgeprops={"width": 0.4},
    )
    return [("monthly", fig)]


def repair_charts(figures: RepairFigures, lang: str, timezone: str = "UTC") -> list[Chart]:
    lang = chart_lang(lang)
    fig = _figure(8.0, 3.6)
    ax = fig.subplots()
    if figures.before:
        ax.plot(
            [_day(t) for t, _ in figures.before],
            [v for _, v in figures.before],
            color=BEFORE,
            label=word(lang, "before"),
        )
    if figures.after:
        ax.plot(
            [_day(t) for t, _ in figures.after],
            [v for _, v in figures.after],
            color=AFTER,
            label=word(lang, "after"),
        )
    if figures.ticket.fixed_at is not None:
        fixed = _day(figures.ticket.fixed_at)
        ax.axvline(fixed, color="black", linestyle="--", linewidth=1)
        ax.annotate(
            f" {word(lang, 'fixed_at')}", (fixed, 0.02), xycoords=("data", "axes fraction"), fontsize=8
        )
    for when in figures.occurrences:
        ax.axvline(_day(when), color=BEFORE, alpha=0.25, linewidth=3)
    ax.set_title(f"{word(lang, 'readings')}: {figures.channel}")
    if figures.before or figures.after:
        ax.legend(loc="best")
    ax.xaxis_date(ZoneInfo(timezone))
    fig.autofmt_xdate()
    return [("readings", fig)]


def _grouped(ax: Axes, cats: Sequence[str], now: Sequence[float], then: Sequence[float], lang: str) -> None:
    xs = list(range(len(cats)))
    ax.bar([x - 0.2 for x in xs], then, width=0.4, color=THEN, label=word(lang, "previous"))
    ax.bar([x + 0.2 for x in xs], now, width=0.4, color=NOW, label=word(lang, "this"))
    ax.set_xticks(xs, [word(lang, c) for c in cats])
    ax.legend(loc="best", fontsize=8)


def quarterly_charts(figures: QuarterlyFigures, lang: str, currency: str = "¥") -> list[Chart]:
    lang = chart_lang(lang)
    cats = [c.category for c in figures.categories]
    out: list[Chart] = []
    fig = _figure(8.0, 3.4)
    repairs_ax, costs_ax = fig.subplots(1, 2)
    _grouped(
        repairs_ax,
        cats,
        [c.repairs for c in figures.categories],
        [c.previous_repairs for c in figures.categories],
        lang,
    )
    repairs_ax.set_title(word(lang, "chart_categories"))
    _grouped(
        costs_ax,
        cats,
        [c.cost for c in figures.categories],
        [c.previous_cost for c in figures.categories],
        lang,
    )
    costs_ax.set_title(f"{word(lang, 'chart_costs')} ({currency})")
    out.append(("categories", fig))
    fig = _figure(8.0, 3.4)
    ack_ax, fix_ax = fig.subplots(1, 2)
    for ax, field, clock, title in (
        (ack_ax, "ack_p50_s", "acknowledge_s", word(lang, "response")),
        (fix_ax, "fix_p50_s", "fixed_s", word(lang, "fix")),
    ):
        levels = [t.level.value for t in figures.targets]
        now = {row.level.value: getattr(row, field) for row in figures.sla}
        then = {row.level.value: getattr(row, field) for row in figures.previous_sla}
        ax.bar([x - 0.2 for x in range(len(levels))], [(then.get(lv) or 0) / 60 for lv in levels], width=0.4,
               color=THEN, label=word(lang, "previous"))  # fmt: skip
        ax.bar([x + 0.2 for x in range(len(levels))], [(now.get(lv) or 0) / 60 for lv in levels], width=0.4,
               color=NOW, label=word(lang, "this"))  # fmt: skip
        targets = [getattr(t, clock) for t in figures.targets]
        ax.scatter(
            [x for x, t in enumerate(targets) if t is not None],
            [t / 60 for t in targets if t is not None],
            marker="_",
            s=600,
            color=TARGET,
            label=word(lang, "target"),
            zorder=3,
        )
        ax.set_xticks(list(range(len(levels))), [level_name(lang, lv) for lv in levels])
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_title(f"{title} ({word(lang, 'minutes')})")
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(word(lang, "chart_sla"))
    out.append(("sla", fig))
    return out
