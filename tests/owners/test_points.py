"""Points (随手拍积分) over the real engine, on SQLite and PostgreSQL: a confirmed report earns its reporter
points, a duplicate of an open report earns once, every entry has its reason in the ledger, the
leaderboard shows masked numbers only, and a redemption is recorded (refused beyond the balance)."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.engine.points import AwardFacts, AwardReason, NotEnoughPoints, decide_award, decide_redeem
from tests.owners.conftest import Owners

ALICE, BOB = "13812345678", "13900001111"


def _confirm(owners: Owners, ref: str, valid: bool = True) -> Any:
    headers = {"Authorization": f"Bearer {owners.staff['engineer']}"}
    return owners.client.post(f"/api/v1/owner-reports/{ref}/confirm", json={"valid": valid}, headers=headers)


def _staff_get(owners: Owners, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {owners.staff['engineer']}"}
    answer = owners.client.get(f"/api/v1{path}", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize(
    ("facts", "earned", "reason"),
    [
        (
            AwardFacts(valid=True, has_phone=True, group_earned=False),
            10,
            AwardReason.EARNED,
        ),  # the plain case
        (AwardFacts(valid=True, has_phone=True, group_earned=True), 0, AwardReason.DUPLICATE),  # earned once
        (AwardFacts(valid=False, has_phone=True, group_earned=False), 0, AwardReason.NOT_VALID),  # not true
        (
            AwardFacts(valid=True, has_phone=False, group_earned=False),
            0,
            AwardReason.NO_PHONE,
        ),  # nobody to credit
    ],
)
def test_the_award_table(facts: AwardFacts, earned: int, reason: AwardReason) -> None:
    assert decide_award(facts, 10) == (earned, reason)


def test_redeeming_more_than_the_balance_is_refused() -> None:
    assert decide_redeem(30, 20) == 10
    with pytest.raises(NotEnoughPoints):
        decide_redeem(10, 20)


def test_confirm_duplicate_ledger_leaderboard_and_redemption(any_owners: Owners) -> None:
    owners = any_owners
    first = owners.report(phone=ALICE, text="B2 车库漏水").json()
    dup = owners.report(phone=BOB, text="车库又在滴水").json()  # the same leak while the first is open
    other = owners.report(phone=BOB, category="elevator", text="2单元电梯异响").json()

    # The duplicate is confirmed first: it earns (its group has not earned yet) ...
    answer = _confirm(owners, dup["ticket"])
    assert answer.status_code == 200, answer.text
    assert (answer.json()["points"], answer.json()["duplicate_of"]) == (10, first["id"])
    # ... and then the first report of the same leak earns nothing: the group earns once.
    again = _confirm(owners, first["id"]).json()
    assert (again["points"], again["balance"]) == (0, 0)
    assert "duplicate" in again["reason"]
    # A report is judged once.
    twice = _confirm(owners, first["id"])
    assert twice.status_code == 409 and "already judged" in twice.json()["detail"]
    assert _confirm(owners, other["ticket"]).json()["balance"] == 20

    ledger = _staff_get(owners, "/points/ledger", phone=BOB)
    assert (ledger["holder"], ledger["balance"]) == ("139****1111", 20)
    assert all(e["reason"].startswith("T-") and e["actor"] == "li.engineer" for e in ledger["entries"])
    alice = _staff_get(owners, "/points/ledger", phone=ALICE)
    assert alice["entries"][0]["delta"] == 0 and "duplicate" in alice["entries"][0]["reason"]

    board = _staff_get(owners, "/points/leaderboard")["items"]
    assert board == [{"holder": "139****1111", "earned": 20, "reports": 2}]
    assert BOB not in str(board)
    # The reporter sees what their report earned on its status page.
    assert owners.client.get(f"/api/v1/report/status/{dup['id']}").json()["points"] == 10

    headers = {"Authorization": f"Bearer {owners.staff['engineer']}"}
    spend = {"phone": BOB, "points": 15, "reason": "一袋大米 a bag of rice"}
    redeemed = owners.client.post("/api/v1/points/redeem", json=spend, headers=headers)
    assert redeemed.status_code == 200 and redeemed.json() == {"holder": "139****1111", "balance": 5}
    too_much = owners.client.post("/api/v1/points/redeem", json=spend, headers=headers)
    assert too_much.status_code == 409 and "balance is 5" in too_much.json()["detail"]
    # Redeeming does not lower a place on the leaderboard; the ledger keeps the redemption's reason.
    assert _staff_get(owners, "/points/leaderboard")["items"][0]["earned"] == 20
    assert "a bag of rice" in _staff_get(owners, "/points/ledger", phone=BOB)["entries"][0]["reason"]


def test_a_report_after_the_first_was_resolved_is_no_duplicate(owners: Owners) -> None:
    first = owners.report(phone=ALICE).json()
    headers = {"Authorization": f"Bearer {owners.staff['engineer']}"}
    done = owners.client.post(
        f"/api/v1/tickets/{first['ticket']}/actions", json={"action": "resolve"}, headers=headers
    )
    assert done.status_code == 200, done.text
    later = owners.report(phone=BOB).json()
    assert _confirm(owners, first["id"]).json()["points"] == 10
    confirmed = _confirm(owners, later["id"]).json()
    assert (confirmed["points"], confirmed["duplicate_of"]) == (10, None)
