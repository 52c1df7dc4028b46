"""Messages to an owner who reported through the page and asked to hear of progress.

``tell_reporters`` runs with the delivery loop: for each report with a channel (``owner_reports.notify_url``)
whose ticket has moved since the owner was last told, it queues one message in the outbox (durable,
retried, isolated like every other send), keyed by the ticket and the state, so a state is told once.
Only the latest state is told (a ticket acknowledged and dispatched within one round says "on the way").
Nothing is queued during the owners' quiet hours: the latest state goes out when they end. Once the
ticket is closed or cancelled, the final message is queued and the channel (the phone number) forgotten.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select, update

from alerts.engine.db import ticket_ref, tickets
from alerts.engine.owner_db import owner_reports
from alerts.notify.audiences import Outgoing, quiet_until
from alerts.notify.writer import Outbox
from facwatch.model import Site, TicketState

S = TicketState
WORDS: dict[TicketState, tuple[str, str]] = {
    S.ACKNOWLEDGED: (
        "物业已收到您的报修，正在安排处理",
        "the property desk has your report and is arranging the work",
    ),
    S.DISPATCHED: ("工程师正在赶来", "an engineer is on the way"),
    S.ON_SITE: ("工程师已到场处理", "an engineer is on site"),
    S.RESOLVED: ("已处理完毕，如仍有问题请回复或致电物业", "it is fixed; if not, please call the desk"),
    S.CLOSED: ("报修已办结，感谢您的反馈", "your report is closed: thank you"),
    S.CANCELLED: (
        "报修已撤销，如有疑问请致电物业",
        "your report was cancelled; please call the desk with questions",
    ),
    S.REOPENED: ("问题重新处理中", "the problem is being handled again"),
}
FINAL = (S.CLOSED, S.CANCELLED)


def reporter_message(site: Site, ref: str, state: TicketState) -> tuple[str, str] | None:
    """The title and body (Chinese, then English) telling a reporter that ``ref`` is now ``state``."""
    words = WORDS.get(state)
    if words is None:
        return None
    who = site.service_name or f"{site.name} 物业服务中心"
    phone = f" {site.service_phone}" if site.service_phone else ""
    title = f"报修进度 {ref} · report {ref}"
    body = f"【{who}】您的报修 {ref}：{words[0]}。\nYour report {ref}: {words[1]}.{phone}"
    return title, body


def tell_reporters(
    engine: Engine,
    site: Site,
    now: datetime,
    quiet: tuple[str, str] | None = None,
    outbox: Outbox | None = None,
) -> int:
    """Queue what reporters have not been told yet; returns how many messages were queued."""
    if quiet is not None and quiet_until(now, site.timezone, quiet[0], quiet[1]) is not None:
        return 0
    writer = outbox or Outbox()
    queued = 0
    with engine.begin() as conn:
        rows = list(
            conn.execute(
                select(
                    owner_reports.c.id,
                    owner_reports.c.ticket_id,
                    owner_reports.c.notify_url,
                    owner_reports.c.told_state,
                    owner_reports.c.phone_masked,
                    tickets.c.state,
                )
                .join(tickets, tickets.c.id == owner_reports.c.ticket_id)
                .where(owner_reports.c.site == site.id, owner_reports.c.notify_url.is_not(None))
                .with_for_update(of=owner_reports)
            )
        )
        for row in rows:
            state = TicketState(row.state)
            if state.value == row.told_state:
                continue
            ref = ticket_ref(row.ticket_id)
            message = reporter_message(site, ref, state)
            if message is not None:
                queued += writer.enqueue(
                    conn,
                    [
                        Outgoing(
                            key=f"{ref}:reporter:{row.id[:12]}:{state.value}",
                            site=site.id,
                            ticket_id=row.ticket_id,
                            audience="reporter",
                            recipient=row.phone_masked or "reporter",
                            targets=(row.notify_url,),
                            title=message[0],
                            body=message[1],
                            lang="zh+en",
                        )
                    ],
                    now,
                )
            done = {"notify_url": None} if state in FINAL else {}
            conn.execute(
                update(owner_reports)
                .where(owner_reports.c.id == row.id)
                .values(told_state=state.value, **done)
            )
    return queued
