"""Points for reporting (随手拍积分): who earns what for a confirmed report, the ledger, the leaderboard.

The decisions are pure tables (``decide_award``, ``decide_redeem``); the SQL that loads their facts and
writes the ledger sits below them and runs inside the caller's transaction. A holder is a phone number's
HMAC (``alerts.engine.owner_identity.phone_key``): the ledger never holds a number in the clear, and the
leaderboard shows only masked numbers (138****5678).

Reports of the same building, category and asset made while an earlier one was open are one group
(``owner_reports.duplicate_of`` names the first): the group earns once, whoever confirms which first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, func, insert, or_, select

from alerts.engine.errors import AlertsError
from alerts.engine.owner_db import owner_reports, points_ledger


class AwardReason(StrEnum):
    EARNED = "confirmed as valid"
    DUPLICATE = "confirmed, but a duplicate of an open report that already earned"
    NOT_VALID = "not confirmed as valid"
    NO_PHONE = "confirmed, but the reporter left no phone number to credit"


class AlreadyConfirmed(AlertsError):
    """An engineer already judged this report (the first judgement stands)."""


class NotEnoughPoints(AlertsError):
    def __init__(self, balance: int, wanted: int) -> None:
        super().__init__(f"not enough points: the balance is {balance}, {wanted} were asked for")
        self.balance = balance


@dataclass(frozen=True, slots=True)
class AwardFacts:
    valid: bool
    has_phone: bool
    group_earned: bool
    """A report of the same duplicate group has earned already."""


def decide_award(facts: AwardFacts, points: int) -> tuple[int, AwardReason]:
    """How many points a judged report earns, and why."""
    if not facts.valid:
        return 0, AwardReason.NOT_VALID
    if not facts.has_phone:
        return 0, AwardReason.NO_PHONE
    if facts.group_earned:
        return 0, AwardReason.DUPLICATE
    return points, AwardReason.EARNED


def decide_redeem(balance: int, wanted: int) -> int:
    """The balance after redeeming ``wanted`` points; raises NotEnoughPoints (nothing is redeemed)."""
    if wanted <= 0:
        raise ValueError("redeem a positive number of points")
    if wanted > balance:
        raise NotEnoughPoints(balance, wanted)
    return balance - wanted


# --- the shell: facts from, and changes to, the state database ------------------------------------------


def group_earned(conn: Connection, report_id: str, duplicate_of: str | None) -> bool:
    root = duplicate_of or report_id
    group = select(owner_reports.c.id).where(
        or_(owner_reports.c.id == root, owner_reports.c.duplicate_of == root)
    )
    earned = conn.execute(
        select(func.count())
        .select_from(points_ledger)
        .where(points_ledger.c.report_id.in_(group), points_ledger.c.delta > 0)
    ).scalar_one()
    return bool(earned)


def record(
    conn: Connection,
    *,
    site: str,
    holder: str,
    label: str,
    delta: int,
    reason: str,
    actor: str,
    at: datetime,
    report_id: str | None = None,
) -> None:
    conn.execute(
        insert(points_ledger).values(
            site=site,
            holder=holder,
            label=label,
            delta=delta,
            reason=reason[:300],
            report_id=report_id,
            actor=actor,
            at=at,
        )
    )


def balance(conn: Connection, site: str, holder: str) -> int:
    total = conn.execute(
        select(func.coalesce(func.sum(points_ledger.c.delta), 0)).where(
            points_ledger.c.site == site, points_ledger.c.holder == holder
        )
    ).scalar_one()
    return int(total)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    at: datetime
    delta: int
    reason: str
    actor: str
    report_id: str | None


def ledger(conn: Connection, site: str, holder: str, limit: int = 200) -> list[LedgerEntry]:
    rows = conn.execute(
        select(points_ledger)
        .where(points_ledger.c.site == site, points_ledger.c.holder == holder)
        .order_by(points_ledger.c.id.desc())
        .limit(limit)
    )
    return [LedgerEntry(r.at, r.delta, r.reason, r.actor, r.report_id) for r in rows]


@dataclass(frozen=True, slots=True)
class Standing:
    label: str
    """The masked phone number: 138****5678."""
    earned: int
    balance: int
    reports: int
    """Reports that earned."""


def leaderboard(conn: Connection, site: str, limit: int = 20) -> list[Standing]:
    """Most points earned first (redeeming does not lower a place); ties: the earlier earner first."""
    rows = conn.execute(
        select(
            points_ledger.c.holder,
            func.max(points_ledger.c.label),
            func.sum(points_ledger.c.delta),
            func.min(points_ledger.c.id),
        )
        .where(points_ledger.c.site == site)
        .group_by(points_ledger.c.holder)
    ).all()
    positive: dict[str, int] = dict(
        conn.execute(
            select(points_ledger.c.holder, func.count())
            .where(points_ledger.c.site == site, points_ledger.c.delta > 0)
            .group_by(points_ledger.c.holder)
        ).all()
    )
    gains: dict[str, int] = dict(
        conn.execute(
            select(points_ledger.c.holder, func.sum(points_ledger.c.delta))
            .where(points_ledger.c.site == site, points_ledger.c.delta > 0)
            .group_by(points_ledger.c.holder)
        ).all()
    )
    standings = [
        (Standing(str(label), int(gains.get(holder) or 0), int(total), int(positive.get(holder, 0))), first)
        for holder, label, total, first in rows
        if gains.get(holder)
    ]
    standings.sort(key=lambda s: (-s[0].earned, s[1]))
    return [s for s, _ in standings[:limit]]
