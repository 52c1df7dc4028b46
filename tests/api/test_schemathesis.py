"""schemathesis against the app's own OpenAPI, in-process (ASGI), with an admin token: whatever it
generates — odd strings, huge numbers, missing fields — the API answers 2xx/4xx, never 5xx.

Driven through hypothesis directly (one bounded run per operation) rather than schemathesis' pytest plugin,
so that it works with the pytest we run.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from facwatch.model import Level
from tests.api.conftest import World
from tests.api.fakes import T0

MAX_EXAMPLES = 25


def test_no_generated_request_gets_a_5xx(world: World) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    # The event stream never ends by itself: it has its own tests (test_events.py).
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app).exclude(path="/api/v1/events")
    headers = world.auth("admin")
    failures: list[str] = []
    statuses: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the OpenAPI has an operation schemathesis cannot read: {result.err()}")
            continue
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query}: {response.text[:200]}")

        run()
    assert operations >= 20, "schemathesis saw fewer operations than the API has"
    assert failures == [], "\n".join(failures[:10])
    assert len(statuses) >= operations and any(200 <= s < 300 for s in statuses)
