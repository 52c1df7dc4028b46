"""The staff's side of the owners' report desk: judging reports, points and their ledger, SLAs per category.

``StaffDesk`` holds what both sides share (the engine, the site, the secret that keys phone numbers, a
report found by its id or its ticket); ``alerts.engine.owner_desk.OwnerDesk`` adds what the report page
calls. Points are decided by the pure ``alerts.engine.points``; this is the shell that loads and stores.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, select, update

from alerts.engine import owner_identity as ids
from alerts.engine import points
from alerts.engine.db import parse_ref, ticket_ref
from alerts.engine.errors import NotFound
from alerts.engine.owner_db import owner_reports, points_ledger
from alerts.engine.owner_sla_report import CategoryFigures, category_figures
from alerts.engine.owner_values import Confirmation, DeskLimits
from alerts.engine.points import AwardReason
from alerts.engine.ports import AlertsApi, PhotoFiles
from facwatch.model import Site


class StaffDesk:
    def __init__(
        self,
        engine: Engine,
        site: Site,
        alerts: AlertsApi,
        secret: str,
        photos: PhotoFiles,
        limits: DeskLimits | None = None,
        updates_url: str | None = None,
    ) -> None:
        """``updates_url``: an apprise URL with ``{phone}`` that texts a reporter (None: no messages)."""
        self.updates_url = updates_url
        self.engine, self.site, self.alerts = engine, site, alerts
        self.secret, self.photos, self.limits = secret, photos, limits or DeskLimits()

    # --- keys and reports ---------------------------------------------------------------------------

    def holder(self, phone: str) -> tuple[str, str]:
        """The points holder key and the masked number of a phone number; ValueError when it is none."""
        number = ids.normalise_phone(phone)
        if number is None:
            raise ValueError("the phone number is not a mainland mobile or landline number")
        return ids.phone_key(self.secret, self.site.id, number), ids.mask_phone(number)

    def _report_row(self, conn: Connection, ref: str) -> Row[Any]:
        """A report by its status id, or (for the staff) by its ticket's id ``T-000012``."""
        pk = parse_ref(ref, "T")
        query = select(owner_reports).where(owner_reports.c.site == self.site.id)
        query = query.where(owner_reports.c.ticket_id == pk if pk is not None else owner_reports.c.id == ref)
        row = conn.execute(query).first()
        if row is None:
            raise NotFound("no such report")
        return row

    # --- the staff judge, points follow ------------------------------------------------------------------

    def confirm(self, ref: str, valid: bool, actor: str, now: datetime) -> Confirmation:
        """An engineer's judgement of a report (once): points to the reporter when it is valid."""
        with self.engine.begin() as conn:
            row = self._report_row(conn, ref)
            locked = conn.execute(
                select(owner_reports).where(owner_reports.c.id == row.id).with_for_update()
            ).one()
            if locked.confirmed_at is not None:
                verdict = "valid" if locked.valid else "not valid"
                raise points.AlreadyConfirmed(
                    f"this report was already judged {verdict} by {locked.confirmed_by}"
                )
            facts = points.AwardFacts(
                valid=valid,
                has_phone=locked.phone_hash is not None,
                group_earned=points.group_earned(conn, locked.id, locked.duplicate_of),
            )
            earned, reason = points.decide_award(facts, self.limits.points_per_report)
            conn.execute(
                update(owner_reports)
                .where(owner_reports.c.id == locked.id)
                .values(confirmed_at=now, confirmed_by=actor, valid=valid)
            )
            balance = None
            if locked.phone_hash is not None:
                note = reason.value
                if reason is AwardReason.DUPLICATE and locked.duplicate_of:
                    note += f" ({ticket_ref(self._ticket_of(conn, locked.duplicate_of))})"
                points.record(
                    conn,
                    site=self.site.id,
                    holder=locked.phone_hash,
                    label=locked.phone_masked or "",
                    delta=earned,
                    reason=f"{ticket_ref(locked.ticket_id)}: {note}",
                    actor=actor,
                    at=now,
                    report_id=locked.id,
                )
                balance = points.balance(conn, self.site.id, locked.phone_hash)
        return Confirmation(
            report=locked.id,
            ticket=ticket_ref(locked.ticket_id),
            points=earned,
            reason=reason,
            balance=balance,
            duplicate_of=locked.duplicate_of,
        )

    def _ticket_of(self, conn: Connection, report_id: str) -> int:
        return int(
            conn.execute(
                select(owner_reports.c.ticket_id).where(owner_reports.c.id == report_id)
            ).scalar_one()
        )

    def redeem(self, phone: str, wanted: int, reason: str, actor: str, now: datetime) -> int:
        """Staff record a redemption at the desk; returns the balance after it. Raises NotEnoughPoints."""
        holder, label = self.holder(phone)
        if not reason.strip():
            raise ValueError("say what the points were redeemed for")
        with self.engine.begin() as conn:
            # Lock the holder's rows so that two redemptions at once cannot both spend the same points.
            conn.execute(
                select(points_ledger.c.id)
                .where(points_ledger.c.site == self.site.id, points_ledger.c.holder == holder)
                .with_for_update()
            ).all()
            left = points.decide_redeem(points.balance(conn, self.site.id, holder), wanted)
            points.record(
                conn,
                site=self.site.id,
                holder=holder,
                label=label,
                delta=-wanted,
                reason=f"redeemed: {reason.strip()}",
                actor=actor,
                at=now,
            )
        return left

    def points_of(self, phone: str) -> tuple[str, int, list[points.LedgerEntry]]:
        """The masked number, its balance and its ledger (newest first)."""
        holder, label = self.holder(phone)
        with self.engine.connect() as conn:
            return (
                label,
                points.balance(conn, self.site.id, holder),
                points.ledger(conn, self.site.id, holder),
            )

    def sla_by_category(self, since: datetime, until: datetime) -> list[CategoryFigures]:
        with self.engine.connect() as conn:
            return category_figures(
                conn, site=self.site.id, policy=self.site.owner_sla, since=since, until=until
            )

    def leaderboard(self, limit: int = 20) -> list[points.Standing]:
        with self.engine.connect() as conn:
            return points.leaderboard(conn, self.site.id, limit)
