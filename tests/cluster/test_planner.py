"""The lease planner as a table: what a worker takes and gives up, from the leases and the live workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine.leases import Lease, Reason, fair_share, plan, preference

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SITES = tuple(f"s{i:02d}" for i in range(12))
LATER = NOW + timedelta(seconds=10)
EARLIER = NOW - timedelta(seconds=1)


def held(owner: str, *sites: str, until: datetime = LATER) -> dict[str, Lease]:
    return {s: Lease(s, owner, 1, until) for s in sites}


CASES = [
    # (leases, live workers, take count, give-up count, reason)
    # alone, nothing held: takes everything
    ({}, ["me"], 12, 0, Reason.TAKING),
    # me is counted even when the heartbeat has not been seen yet
    ({}, [], 12, 0, Reason.TAKING),
    # two workers, nothing held: each takes its half
    ({}, ["me", "b"], 6, 0, Reason.TAKING),
    # three workers: ceil(12 / 3)
    ({}, ["me", "b", "c"], 4, 0, Reason.TAKING),
    # five workers: ceil(12 / 5) = 3
    ({}, ["me", "b", "c", "d", "e"], 3, 0, Reason.TAKING),
    # holding exactly the share: nothing to do
    (held("me", *SITES[:6]) | held("b", *SITES[6:]), ["me", "b"], 0, 0, Reason.HOLDING),
    # a third worker joined: give up the surplus of 2
    (held("me", *SITES[:6]) | held("b", *SITES[6:]), ["me", "b", "c"], 0, 2, Reason.GIVING_UP),
    # a worker left and its leases expired: take them up to the new share
    (held("me", *SITES[:6]) | held("b", *SITES[6:], until=EARLIER), ["me"], 6, 0, Reason.TAKING),
    # a dead worker's leases have not expired yet: nothing is free, wait
    (held("me", *SITES[:6]) | held("b", *SITES[6:]), ["me"], 0, 0, Reason.NOTHING_FREE),
    # a lease that ends exactly now is free
    (held("b", *SITES, until=NOW), ["me", "b"], 6, 0, Reason.TAKING),
    # only two free sites below a share of six: takes the two
    (held("b", *SITES[:10]), ["me", "b"], 2, 0, Reason.TAKING),
    # my own expired leases count as free, not as mine
    (held("me", *SITES[:6], until=EARLIER), ["me", "b"], 6, 0, Reason.TAKING),
    # more workers than sites: share 1, never a negative give-up
    (held("me", SITES[0]), [f"w{i}" for i in range(20)] + ["me"], 0, 0, Reason.HOLDING),
    # holding nothing with a share of 1 and nothing free
    (held("b", *SITES), [f"w{i}" for i in range(20)] + ["me", "b"], 0, 0, Reason.NOTHING_FREE),
]


@pytest.mark.parametrize(("leases", "workers", "takes", "gives", "reason"), CASES)
def test_plan(leases: dict[str, Lease], workers: list[str], takes: int, gives: int, reason: Reason) -> None:
    take, give_up, why = plan(SITES, leases, workers, "me", NOW)
    assert (len(take), len(give_up), why) == (takes, gives, reason)
    mine = {s for s, lease in leases.items() if lease.owner == "me" and lease.expires_at > NOW}
    assert set(give_up) <= mine  # only what it holds
    assert not set(take) & {s for s, lease in leases.items() if lease.expires_at > NOW}  # only free sites
    assert len(mine) - len(give_up) + len(take) <= fair_share(len(SITES), len(set(workers) | {"me"}))


def test_sites_unknown_to_the_config_are_ignored() -> None:
    take, _, _ = plan(("a",), held("b", "zz"), ["me"], "me", NOW)
    assert take == ("a",)


def test_workers_want_free_sites_in_different_orders() -> None:
    firsts = {plan(SITES, {}, [w, "x", "y"], w, NOW)[0][0] for w in ("alpha", "beta", "gamma", "delta")}
    assert len(firsts) > 1  # workers starting together do not all race for the same site
    assert preference("a", "s1") == preference("a", "s1")  # stable across processes (not hash())


def test_gives_up_the_sites_it_wants_least() -> None:
    mine = SITES[:6]
    _, give_up, _ = plan(SITES, held("me", *mine) | held("b", *SITES[6:]), ["me", "b", "c"], "me", NOW)
    ranked = sorted(mine, key=lambda s: (preference("me", s), s))
    assert give_up == tuple(ranked[4:])
