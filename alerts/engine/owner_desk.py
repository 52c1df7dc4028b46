"""The owners' report desk: a report from the page becomes an owner ticket, with its photos and its points.

``OwnerDesk`` is the shell around pure parts: building tokens and phone keys (``owner_identity``), photo
cleaning (``owner_photos``) and rate limits (``owner_values.decide_rate``); the staff's side (judging a
report, points, SLAs per category) is its base, ``owner_staff_desk.StaffDesk``. It opens tickets
through the engine's own ``open_owner_ticket``, so a report gets the clocks of its category and escalates
like any owner ticket; it keeps the report, its photos and the ledger in the tables of migration 0015.

What an owner sees of their report (``status``) is a projection of the ticket: its state, the public steps
of its timeline (never a person's name or an engineer's note, except a plan B meant for owners), and their
own photos. The phone number is kept in the clear only in the ticket (a timeline comment for the callback).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Table, delete, func, select, update

from alerts.engine import owner_identity as ids
from alerts.engine.db import parse_ref, ticket_ref, tickets, utc
from alerts.engine.errors import NotFound
from alerts.engine.lifecycle import ACTIVE_TICKET_STATES
from alerts.engine.owner_db import owner_photos, owner_reports, points_ledger
from alerts.engine.owner_photos import clean_photo
from alerts.engine.owner_staff_desk import StaffDesk
from alerts.engine.owner_values import (
    MAX_PHOTOS,
    PUBLIC_STEPS,
    REPORTER,
    RateLimited,
    ReportForm,
    ReportStatus,
    Step,
    TokenRefused,
    decide_rate,
)
from alerts.engine.ports import ActionRequest, OwnerReport
from facwatch.model import TicketAction, TicketState

STAFF_PHOTOS = "/api/v1/owner-reports"
"""Where the staff fetch a report's photos (with a viewer token): the ticket's ``photo_urls`` point there."""


class OwnerDesk(StaffDesk):
    """What the report page calls: building passes, photos, reports and their status (the staff's part,
    judging reports and points, is ``StaffDesk``)."""

    # --- keys ---------------------------------------------------------------------------------------

    def building_pass(self, token: str, now: datetime) -> ids.BuildingPass:
        buildings = {b.id for b in self.site.buildings}
        checked = ids.check_building(self.secret, token, self.site.id, buildings, now)
        if isinstance(checked, ids.TokenProblem):
            raise TokenRefused(checked)
        return checked

    def sign(self, building: str, expires: datetime) -> str:
        return ids.sign_building(self.secret, self.site.id, building, expires)

    def device(self, device: str) -> str:
        return ids.device_key(self.secret, device)

    # --- photos -------------------------------------------------------------------------------------

    def add_photo(self, token: str, device: str, data: bytes, keep_location: bool, now: datetime) -> str:
        """Clean and keep one photo for a report still to be sent; returns its id. Raises TokenRefused,
        RateLimited, PhotoRefused."""
        self.building_pass(token, now)
        key = self.device(device)
        with self.engine.connect() as conn:
            times = self._times(conn, owner_photos, owner_photos.c.device_key == key, now)
        wait = decide_rate(times, self.limits.device_photos, self.limits.window_s, now)
        if wait is not None:
            raise RateLimited("too many photos from this phone: please try again later", wait)
        photo = clean_photo(
            data,
            keep_location=keep_location,
            max_pixels=self.limits.photo_max_pixels,
            max_side=self.limits.photo_max_side,
        )
        pid = secrets.token_urlsafe(18)
        name = f"{pid}.{'png' if photo.content_type == 'image/png' else 'jpg'}"
        self.photos.write(name, photo.data)
        with self.engine.begin() as conn:
            self._forget_orphans(conn, now)
            conn.execute(
                owner_photos.insert().values(
                    id=pid,
                    site=self.site.id,
                    device_key=key,
                    created_at=now,
                    file=name,
                    bytes=len(photo.data),
                    location_kept=photo.location_kept,
                )
            )
        return pid

    def _updates_to(self, form: ReportForm) -> str | None:
        number = ids.normalise_phone(form.phone) if form.phone else None
        if not (form.updates and number and self.updates_url):
            return None
        return self.updates_url.replace("{phone}", number)

    def _forget_orphans(self, conn: Connection, now: datetime) -> None:
        """Photos uploaded for a report that never came are deleted once the rate window has passed."""
        start = now - timedelta(seconds=self.limits.window_s)
        stale = list(
            conn.execute(
                select(owner_photos.c.id, owner_photos.c.file).where(
                    owner_photos.c.site == self.site.id,
                    owner_photos.c.report_id.is_(None),
                    owner_photos.c.created_at < start,
                )
            )
        )
        for row in stale:
            self.photos.remove(str(row.file))
        if stale:
            conn.execute(delete(owner_photos).where(owner_photos.c.id.in_([r.id for r in stale])))

    # --- reports ------------------------------------------------------------------------------------

    def submit(self, token: str, device: str, form: ReportForm, now: datetime) -> tuple[str, str]:
        """Open an owner ticket from the page; returns (the report's status id, the ticket's id). Raises
        TokenRefused, RateLimited, ValueError (a bad field, a photo that is not this device's)."""
        where = self.building_pass(token, now)
        key = self.device(device)
        holder = self.holder(form.phone) if form.phone else None
        if len(form.photos) > MAX_PHOTOS:
            raise ValueError(f"at most {MAX_PHOTOS} photos")
        with self.engine.connect() as conn:
            by_device = self._times(conn, owner_reports, owner_reports.c.device_key == key, now)
            by_phone = (
                self._times(conn, owner_reports, owner_reports.c.phone_hash == holder[0], now)
                if holder
                else []
            )
            photos = self._own_photos(conn, form.photos, key, now)
            duplicate_of = self._open_duplicate(conn, where.building, form.category)
        limits = self.limits
        wait = decide_rate(by_device, limits.device_reports, limits.window_s, now)
        if wait is not None:
            raise RateLimited("too many reports from this phone: please try again later", wait)
        wait = decide_rate(by_phone, limits.phone_reports, limits.window_s, now)
        if wait is not None:
            raise RateLimited("too many reports with this phone number: please try again later", wait)
        rid = secrets.token_urlsafe(24)
        ticket = self.alerts.open_owner_ticket(
            OwnerReport(
                site=self.site.id,
                building=where.building,
                category=form.category,
                text=form.text.strip(),
                reporter=REPORTER,
                unit=form.unit or None,
                photo_urls=tuple(f"{STAFF_PHOTOS}/{rid}/photos/{n}" for n in range(1, len(photos) + 1)),
                location=form.location or None,
            ),
            now,
        )
        if holder is not None and form.phone:
            number = ids.normalise_phone(form.phone)
            note = f"the owner asks for a callback: {number}"
            self.alerts.act(ticket.id, ActionRequest(TicketAction.COMMENT, REPORTER, note=note), now)
        pk = parse_ref(ticket.id, "T")
        assert pk is not None
        with self.engine.begin() as conn:
            conn.execute(
                owner_reports.insert().values(
                    id=rid,
                    site=self.site.id,
                    building=where.building,
                    category=form.category,
                    unit=form.unit or None,
                    location=form.location or None,
                    text=form.text.strip(),
                    ticket_id=pk,
                    created_at=now,
                    device_key=key,
                    phone_hash=holder[0] if holder else None,
                    phone_masked=holder[1] if holder else None,
                    location_consent=any(kept for _, kept in photos),
                    duplicate_of=duplicate_of,
                    notify_url=self._updates_to(form),
                    told_state=TicketState.OPEN.value,
                )
            )
            for position, (pid, _kept) in enumerate(photos, start=1):
                conn.execute(
                    update(owner_photos)
                    .where(owner_photos.c.id == pid)
                    .values(report_id=rid, position=position)
                )
        return rid, ticket.id

    def _times(
        self, conn: Connection, table: Table, condition: ColumnElement[bool], now: datetime
    ) -> list[datetime]:
        start = now - timedelta(seconds=self.limits.window_s)
        rows = conn.execute(select(table.c.created_at).where(condition, table.c.created_at > start))
        return [t for (at,) in rows if (t := utc(at)) is not None]

    def _own_photos(
        self, conn: Connection, wanted: tuple[str, ...], key: str, now: datetime
    ) -> list[tuple[str, bool]]:
        """The photos named, each this device's, recent and not yet part of a report; else ValueError."""
        if len(set(wanted)) != len(wanted):
            raise ValueError("a photo is named twice")
        start = now - timedelta(seconds=self.limits.window_s)
        rows = {
            r.id: r
            for r in conn.execute(select(owner_photos).where(owner_photos.c.id.in_(wanted)))
            if r.device_key == key and r.report_id is None and (utc(r.created_at) or now) > start
        }
        missing = [pid for pid in wanted if pid not in rows]
        if missing:
            raise ValueError(
                "a photo of this report was not uploaded from this phone: please attach it again"
            )
        return [(pid, bool(rows[pid].location_kept)) for pid in wanted]

    def _open_duplicate(self, conn: Connection, building: str, category: str) -> str | None:
        """The first report of the same building and category whose ticket is still open (the group's root)."""
        row = conn.execute(
            select(owner_reports.c.id, owner_reports.c.duplicate_of)
            .join(tickets, tickets.c.id == owner_reports.c.ticket_id)
            .where(
                owner_reports.c.site == self.site.id,
                owner_reports.c.building == building,
                owner_reports.c.category == category,
                owner_reports.c.asset.is_(None),
                tickets.c.state.in_([s.value for s in ACTIVE_TICKET_STATES]),
            )
            .order_by(owner_reports.c.created_at, owner_reports.c.id)
            .limit(1)
        ).first()
        if row is None:
            return None
        return str(row.duplicate_of or row.id)

    # --- what the owner sees --------------------------------------------------------------------------

    def status(self, ref: str) -> ReportStatus:
        with self.engine.connect() as conn:
            row = self._report_row(conn, ref)
            count = conn.execute(
                select(func.count()).select_from(owner_photos).where(owner_photos.c.report_id == row.id)
            ).scalar_one()
            earned = conn.execute(
                select(points_ledger.c.delta).where(points_ledger.c.report_id == row.id)
            ).scalar_one_or_none()
        ticket = self.alerts.get_ticket(ticket_ref(row.ticket_id))
        steps = tuple(
            Step(e.ts, PUBLIC_STEPS[e.action], e.note if e.action == "plan_b" else "")
            for e in ticket.timeline
            if e.action in PUBLIC_STEPS
        )
        return ReportStatus(
            id=row.id,
            ticket=ticket.id,
            building=row.building,
            category=row.category,
            unit=row.unit,
            location=row.location,
            text=row.text,
            created_at=utc(row.created_at) or ticket.created_at,
            state=ticket.state,
            deadlines=ticket.deadlines,
            steps=steps,
            photos=int(count),
            phone=row.phone_masked,
            progress_percent=ticket.progress_percent,
            eta=ticket.eta,
            points=None if earned is None and row.confirmed_at is None else int(earned or 0),
        )

    def photo(self, ref: str, position: int) -> tuple[bytes, str]:
        """The ``position``-th photo (from 1) of a report: its bytes and content type. Raises NotFound."""
        with self.engine.connect() as conn:
            report = self._report_row(conn, ref)
            row = conn.execute(
                select(owner_photos.c.file).where(
                    owner_photos.c.report_id == report.id, owner_photos.c.position == position
                )
            ).first()
        if row is None:
            raise NotFound("no such photo")
        name = str(row.file)
        data = self.photos.read(name)
        if data is None:
            raise NotFound("the photo is no longer kept")
        return data, "image/png" if name.endswith(".png") else "image/jpeg"
