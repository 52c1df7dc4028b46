"""A site whose engine gets stuck is told, not silent (facwatch/watchdog.py).

The whole process on real Mosquitto and the demo site, its SLA clocks' tick made to hang inside its state
database transaction, as a deadlock or a database call that never returns would: within ``[intake] stall_s``
the fallback person is told directly, at a real HTTP receiver, that the site's engine is stuck and new
alerts may not open, and ``/readyz`` answers 503 naming the site. When the tick finishes, they are told it
runs again, once, and ``/readyz`` answers 200."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from alerts.notify.outbox import fallback_person
from tests.api.test_health_parts import ready, running_system, wait_ready
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until
from tests.reliability.safety_harness import posts, site_for

pytestmark = pytest.mark.integration


def test_a_stuck_engine_is_told_to_the_fallback_person_and_fails_readiness(
    tmp_path: Path, mosquitto: MosquittoBroker, http_receiver: HttpReceiver
) -> None:
    site = site_for(http_receiver, tmp_path)
    fallback = fallback_person(site)
    assert fallback is not None
    people = tuple(
        dataclasses.replace(p, notify=(http_receiver.url + "fallback",)) if p.id == fallback.id else p
        for p in site.people
    )
    system = running_system(
        tmp_path, mosquitto.url, site=dataclasses.replace(site, people=people), intake={"stall_s": 3}
    )
    released = threading.Event()
    try:
        wait_ready(system, set())
        sweeper = system.runtimes[site.id].alerts.sweeper
        run = sweeper.run

        def stuck(*args: Any, **kwargs: Any) -> None:  # the tick hangs inside its transaction
            released.wait(120)
            run(*args, **kwargs)

        sweeper.run = stuck  # type: ignore[method-assign]
        wait_until(
            lambda: posts(http_receiver, "/fallback"), 30, "the fallback person told of the stuck engine"
        )
        (told,) = posts(http_receiver, "/fallback")
        assert "engine is stuck" in told["title"] and site.id in told["title"]
        assert "RED" in told["message"]
        body = wait_ready(system, {"clocks"})
        assert f"site {site.id}: the engine has not finished a tick" in body["failing"]["clocks"]

        sweeper.run = run  # type: ignore[method-assign]
        released.set()
        wait_until(lambda: len(posts(http_receiver, "/fallback")) == 2, 30, "told that it runs again")
        assert "runs again" in posts(http_receiver, "/fallback")[1]["title"]
        wait_ready(system, set())
        assert ready(system)[0] == 200
    finally:
        released.set()
        system.stop()
