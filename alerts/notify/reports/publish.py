"""Which owners' reports are due, and their messages to the buildings' owner groups through the outbox.

``due`` is pure: from ``[reports]`` (day of the month, hour) and the time, the last month's lists and the last
quarter's publication are due from their day on, and a rectification order (YELLOW recurrence) fixed in the
last ``REPAIR_LOOKBACK`` has its repair report due. ``Publisher.run`` (the worker calls it now and then) turns
what is due into outbox items under keys that say what was sent to whom (``report:monthly:2026-11:b1:<group>``):
the outbox adds a key once, so a report goes out once however often ``run`` looks, from any process. A
facwatch that was down on the day sends it when it is back. Reports are not urgent: in the owners' quiet
hours they wait for the morning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select

from alerts.engine.db import notifications, parse_ref
from alerts.engine.periods import period_at, previous
from alerts.engine.report_reads import fixed_recurrences
from alerts.notify.audiences import OWNERS, Outgoing, quiet_until
from alerts.notify.messages import languages
from alerts.notify.reports.documents import Figures, document, message
from alerts.notify.reports.service import Reports
from alerts.notify.writer import Outbox, fit_key
from facwatch.config import NotifySettings, ReportSettings
from facwatch.model import OwnerGroup

log = structlog.get_logger("alerts.notify.reports")

REPAIR_LOOKBACK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Due:
    kind: str
    subject: str
    """The period (``2026-11``, ``2026-Q4``) or the ticket (``T-000012``)."""
    building: str | None = None
    """A repair report goes to its building; None: every building."""


def due(settings: ReportSettings, timezone: str, now: datetime) -> list[Due]:
    """The scheduled reports due at ``now`` (site time zone): last month's from ``monthly_day`` at
    ``send_hour``, last quarter's from ``quarterly_day`` of a quarter's first month at ``send_hour``."""
    local = now.astimezone(ZoneInfo(timezone))
    out: list[Due] = []
    if settings.monthly and (local.day, local.hour) >= (settings.monthly_day, settings.send_hour):
        out.append(Due("monthly", previous(period_at(now, timezone, "month"), timezone).label))
    in_first_month = local.month in (1, 4, 7, 10)
    if (
        settings.quarterly
        and in_first_month
        and (local.day, local.hour) >= (settings.quarterly_day, settings.send_hour)
    ):
        out.append(Due("quarterly", previous(period_at(now, timezone, "quarter"), timezone).label))
    return out


def report_key(kind: str, subject: str, building: str, group: str) -> str:
    return fit_key(f"report:{kind}:{subject}:{building}:{group}")


class Publisher:
    def __init__(
        self, reports: Reports, notify: NotifySettings | None = None, outbox: Outbox | None = None
    ) -> None:
        self.reports = reports
        self.notify = notify or NotifySettings()
        self.outbox = outbox or Outbox(self.notify.red_channels)

    def pending(self, now: datetime) -> list[Due]:
        site = self.reports.site
        wanted = due(self.reports.settings, site.timezone, now)
        with self.reports.engine.connect() as conn:
            fixed = fixed_recurrences(conn, site.id, now - REPAIR_LOOKBACK, now)
        wanted.extend(Due("repair", ref, building) for ref, building in fixed)
        return wanted

    def run(self, now: datetime) -> int:
        """Enqueue every due report not sent yet; returns how many messages were added."""
        added = 0
        for item in self.pending(now):
            for building in self._buildings(item):
                groups = [g for g in self.reports.site.owners if g.building == building and g.notify]
                missing = [
                    g for g in groups if not self._sent(report_key(item.kind, item.subject, building, g.name))
                ]
                if not missing:
                    continue
                try:
                    figures = self.reports.figures(item.kind, building, item.subject, now)
                except ValueError as exc:  # e.g. reopened since: the report waits for the next fix
                    log.info("report not ready", kind=item.kind, subject=item.subject, reason=str(exc))
                    continue
                outgoing = [self.item(figures, item, building, g, now) for g in missing]
                with self.reports.engine.begin() as conn:
                    added += self.outbox.enqueue(conn, outgoing, now)
        return added

    def _buildings(self, item: Due) -> list[str]:
        if item.building is not None:
            return [item.building]
        return [b.id for b in self.reports.site.buildings]

    def _sent(self, key: str) -> bool:
        with self.reports.engine.connect() as conn:
            return (
                conn.execute(select(notifications.c.id).where(notifications.c.key == key)).first() is not None
            )

    def item(
        self, figures: Figures, due_item: Due, building: str, group: OwnerGroup, now: datetime
    ) -> Outgoing:
        """One owner group's message, in its language(s), with a signed link to its building's page."""
        site, settings = self.reports.site, self.reports.settings
        titles, bodies = [], []
        for lang in languages(group.lang):
            doc = document(figures, site, lang, settings.currency)
            link = self.reports.link(due_item.kind, building, due_item.subject, lang, now)
            title, body = message(doc, link)
            titles.append(title)
            bodies.append(body)
        release = None
        if self.notify.quiet_hours:
            release = quiet_until(now, site.timezone, self.notify.quiet_start, self.notify.quiet_end)
        ticket = parse_ref(due_item.subject, "T") if due_item.kind == "repair" else None
        return Outgoing(
            key=report_key(due_item.kind, due_item.subject, building, group.name),
            site=site.id,
            ticket_id=ticket,
            audience=OWNERS,
            recipient=group.name,
            targets=group.notify,
            title=" / ".join(titles),
            body="\n\n".join(bodies),
            lang=group.lang,
            release_at=release,
            quiet=release is not None,
        )
