"""The report page's API over the real engine: a report with a photo opens an owner ticket, the stored
photo has lost its GPS position (kept only with consent), the status page shows that report and no other,
bad tokens answer 403, bad files a clear refusal, and the rate limits 429."""

from __future__ import annotations

import os
import stat
from datetime import timedelta

from tests.owners.conftest import Owners, gps_of, jpeg_with_gps


def test_a_report_with_a_photo_opens_an_owner_ticket_and_the_photo_loses_its_gps(owners: Owners) -> None:
    photo = owners.photo(jpeg_with_gps())
    assert photo.status_code == 201, photo.text
    sent = owners.report(
        unit="1502", location="B2 garage", phone="138-1234-5678", photos=[photo.json()["id"]]
    )
    assert sent.status_code == 201, sent.text
    rid, ticket_id = sent.json()["id"], sent.json()["ticket"]

    staff = {"Authorization": f"Bearer {owners.staff['engineer']}"}
    ticket = owners.client.get(f"/api/v1/tickets/{ticket_id}", headers=staff).json()
    assert (ticket["source"], ticket["category"], ticket["unit"]) == ("owner", "leak", "1502")
    # The callback number is in the ticket, in the clear, and nowhere else.
    assert any("13812345678" in e["note"] for e in ticket["timeline"])
    status = owners.client.get(f"/api/v1/report/status/{rid}").json()
    assert status["phone"] == "138****5678" and "13812345678" not in str(status)
    assert status["photos"] == 1 and status["steps"][0]["step"] == "received"

    stored = owners.client.get(f"/api/v1/report/status/{rid}/photos/1")
    assert stored.status_code == 200 and stored.headers["content-type"] == "image/jpeg"
    assert gps_of(jpeg_with_gps()) and gps_of(stored.content) == {}
    [kept] = list(owners.photo_dir.iterdir())
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    # Engineers reach it from the ticket, and by the ticket's id.
    assert ticket["photo_urls"] == [f"/api/v1/owner-reports/{rid}/photos/1"]
    from_ticket = owners.client.get(ticket["photo_urls"][0], headers=staff)
    by_ticket = owners.client.get(f"/api/v1/owner-reports/{ticket_id}/photos/1", headers=staff)
    assert from_ticket.content == by_ticket.content == stored.content


def test_with_consent_the_photo_keeps_where_it_was_taken(owners: Owners) -> None:
    photo = owners.photo(jpeg_with_gps(), location=True)
    rid = owners.report(photos=[photo.json()["id"]]).json()["id"]
    stored = owners.client.get(f"/api/v1/report/status/{rid}/photos/1").content
    assert gps_of(stored)[1] == "N"


def test_the_status_page_shows_only_the_report_whose_id_is_given(owners: Owners) -> None:
    first = owners.report(text="first report").json()["id"]
    owners.report(text="second report", category="noise")
    answer = owners.client.get(f"/api/v1/report/status/{first}").json()
    assert answer["text"] == "first report"
    assert owners.client.get("/api/v1/report/status/" + "x" * 32).status_code == 404
    # The staff's routes want a token.
    assert owners.client.get(f"/api/v1/owner-reports/{first}").status_code == 401


def test_a_tampered_an_expired_or_another_buildings_forged_token_answers_403(owners: Owners) -> None:
    good = owners.token("b1")
    tampered = good.replace(".b1.", ".b2.")
    expired = owners.token("b1", days=-1)
    for token, words in ((tampered, "not issued"), (expired, "expired"), ("v1.x", "damaged")):
        answer = owners.report(token=token)
        assert answer.status_code == 403, (token, answer.text)
        assert words in answer.json()["detail"]
        assert owners.photo(jpeg_with_gps(), token=token).status_code == 403
    assert (
        owners.client.get("/api/v1/report/building", headers={"X-Building-Token": expired}).status_code == 403
    )
    page = owners.client.get("/api/v1/report/building", headers={"X-Building-Token": good}).json()
    assert page["building"] == "b1" and "leak" in page["categories"]


def test_a_non_image_and_an_oversized_file_are_refused_with_a_clear_message(owners: Owners) -> None:
    refused = owners.photo(b"%PDF-1.7 not a photo")
    assert refused.status_code == 415 and "JPEG or PNG" in refused.json()["detail"]
    fake = owners.photo(b"\xff\xd8\xff" + b"garbage" * 100)
    assert fake.status_code == 415 and "not a readable" in fake.json()["detail"]
    limit = owners.desk.limits.photo_max_bytes
    huge = owners.photo(b"\xff\xd8\xff" + b"\0" * limit)
    assert huge.status_code == 413 and str(limit) in huge.json()["detail"]


def test_the_rate_limits_answer_429_per_device_and_per_phone(owners: Owners) -> None:
    limits = owners.desk.limits
    for n in range(limits.phone_reports):
        assert owners.report(phone="13912345678", text=f"report {n}").status_code == 201
    refused = owners.report(phone="139 1234 5678")
    assert refused.status_code == 429 and "phone number" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) > 0
    # The same device goes on without a phone until its own limit …
    for _ in range(limits.device_reports - limits.phone_reports):
        assert owners.report().status_code == 201
    device = owners.report()
    assert device.status_code == 429 and "this phone" in device.json()["detail"]
    # … and an hour later it may report again.
    owners.clock.advance(timedelta(hours=1, seconds=1).total_seconds())
    assert owners.report().status_code == 201


def test_a_photo_whose_report_never_came_is_deleted_after_the_window(owners: Owners) -> None:
    owners.photo(jpeg_with_gps())
    [orphan] = list(owners.photo_dir.iterdir())
    owners.clock.advance(owners.desk.limits.window_s + 1)
    kept = owners.photo(jpeg_with_gps()).json()["id"]
    assert not orphan.exists()
    assert [p.stem for p in owners.photo_dir.iterdir()] == [kept]
