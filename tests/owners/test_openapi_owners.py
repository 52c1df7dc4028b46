"""The report page's and the points' routes document themselves as every other route does: the checks of
tests/api/test_openapi.py, run on an app that has the owners' desk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.api import test_openapi
from tests.owners.conftest import Owners

CHECKS: list[Callable[[Any], None]] = [
    test_openapi.test_every_operation_has_a_summary_in_words_and_a_description,
    test_openapi.test_every_authenticated_route_documents_401_and_403_with_a_schema,
    test_openapi.test_every_documented_error_has_a_schema_and_every_input_a_422,
    test_openapi.test_every_schema_field_has_a_description,
    test_openapi.test_every_operation_has_an_example_answer,
    test_openapi.test_every_body_has_an_example,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_owners_routes_document_themselves(owners: Owners, check: Callable[[Any], None]) -> None:
    paths = owners.client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/report", "/api/v1/owner-reports/{report_id}/confirm", "/api/v1/points/redeem"} <= set(
        paths
    )
    check(owners)
