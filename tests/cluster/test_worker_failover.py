"""Three real ``facwatch run --only worker`` processes and two ``--only api`` replicas share 12 sites on real
PostgreSQL, Mosquitto and InfluxDB. Each site runs in exactly one worker. The worker owning a site with an
entrapment in progress is killed (SIGKILL): another takes the site over within the lease + 10 s, the RED
opens once, its messages reach the receiver once each, the other API replica's event stream has it, and no
reading the broker acknowledged meanwhile is missing from the store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.cluster.conftest import ProcFactory
from tests.cluster.workers import (
    ADMIN,
    Publisher,
    owners,
    reds,
    repeated_posts,
    settled,
    start_all,
    stored,
    write_sites,
)
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until
from tests.reliability.eventlog_harness import EventStream

pytestmark = pytest.mark.integration

LEASE_S = 15.0


def test_a_killed_workers_site_is_taken_over_and_its_entrapment_told_once(
    tmp_path: Path,
    procs: ProcFactory,
    cluster_db: Engine,
    mosquitto: MosquittoBroker,
    http_receiver: HttpReceiver,
) -> None:
    sites = write_sites(tmp_path / "sites", 12, http_receiver.url)
    workers = [procs(f"w{i}", lease_s=LEASE_S) for i in (1, 2, 3)]
    apis = [procs(f"api{i}", parts="api") for i in (1, 2)]
    began = time.monotonic()

    def stage(what: str) -> None:
        print(f"{time.monotonic() - began:6.1f} s  {what}", flush=True)

    start_all([*workers, *apis])
    stage("processes started")
    publisher = Publisher(mosquitto.port, sites)
    stream = None
    try:
        settled(cluster_db, workers, [4, 4, 4])
        stage("every site running")
        running = [w.running_sites() for w in workers]
        assert set().union(*running) == set(sites)
        assert sum(len(r) for r in running) == 12, "a site runs in two workers"
        lease = owners(cluster_db)
        for worker, held in zip(workers, running, strict=True):
            assert held == {s for s, o in lease.items() if o == worker.name}

        victim = workers[0]
        site = sorted(victim.running_sites())[0]
        stream = EventStream(apis[1].api, token=ADMIN)  # a client of the *other* replica
        publisher.stuck.add(site)  # someone is trapped in site's car
        wait_until(lambda: len(reds(apis[0].api, site)) >= 1, 30, "the RED opened by the owner")
        stage("RED opened")
        killed_ms = int(time.time() * 1000)
        killed = time.monotonic()
        victim.kill()

        def taken_over() -> bool:
            return owners(cluster_db).get(site) not in (None, victim.name)

        wait_until(taken_over, LEASE_S + 10, "the site taken over within the lease + 10 s")
        took = time.monotonic() - killed
        successor = next(w for w in workers if w.name == owners(cluster_db)[site])
        wait_until(lambda: site in successor.running_sites(), 20, "the successor runs the site")
        resumed_ms = int(time.time() * 1000)
        stage(f"taken over by {successor.name} after {took:.2f} s")

        # the successor stores and judges the site: readings from after the takeover reach the store
        wait_until(
            lambda: stored(apis[0].api, site, resumed_ms, resumed_ms + 60_000), 30, "readings after takeover"
        )
        # no reading the broker acknowledged between shortly before the kill and the takeover is missing
        window = publisher.acked_between(site, killed_ms - 3_000, resumed_ms)
        assert window
        wait_until(
            lambda: window <= stored(apis[1].api, site, killed_ms - 3_000, resumed_ms),
            30,
            "every reading published meanwhile in the store",
        )

        stage("readings complete")
        red = reds(apis[1].api, site)
        assert len(red) == 1, red  # opened once: the successor restored the site, it did not open another
        assert red[0]["state"] in ("firing", "open", "pending", "active"), red[0]
        alert_id = red[0]["id"]
        wait_until(
            lambda: stream.saw("alert", alert_id),
            20,
            "the RED on the other replica's event stream",
        )
        for other in sites:
            if other != site:
                assert reds(apis[0].api, other) == []

        # the RED's messages: each reached the receiver, none twice
        wait_until(
            lambda: any(p.startswith(f"/{site}/engineer") for p in list(http_receiver.paths)),
            30,
            "the engineer's message",
        )
        repeated = repeated_posts(http_receiver, f"/{site}/")
        assert not repeated, repeated
        print(f"takeover after SIGKILL: {took:.2f} s (lease {LEASE_S:g} s)")
    finally:
        if stream is not None:
            stream.close()
        publisher.close()
