"""schemathesis on the owners' routes over the real engine: whatever it sends (odd tokens, bodies, ids,
photos that are not photos), the answer is 2xx or 4xx, never 5xx."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from tests.owners.conftest import Owners

MAX_EXAMPLES = 20


def test_no_generated_request_to_the_owners_routes_gets_a_5xx(owners: Owners) -> None:
    owners.report(phone="13812345678")  # something to find
    schema = schemathesis.openapi.from_asgi("/openapi.json", owners.client.app).include(
        path_regex=r"^/api/v1/(report|owner-reports|points)"
    )
    headers = {"Authorization": f"Bearer {owners.staff['engineer']}", "X-Building-Token": owners.token()}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case: Any) -> None:
            response = case.call(headers={**headers, **(case.headers or {})})
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
                )

        run()
    assert operations >= 10
    assert failures == [], "\n".join(failures[:10])
