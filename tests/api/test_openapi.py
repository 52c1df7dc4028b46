"""The OpenAPI documents itself: every operation says what it does, every field what it holds, every
authenticated route how it refuses a caller (401, 403), each with the schema of the answer."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import World

OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/api/v1/chat/", "/api/v1/report")
"""Routes that take no bearer token (health probes, metrics, the chat platforms' signed callbacks, the owners'
report page: its building token or its report id is the key)."""


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    ]


def _authenticated(path: str) -> bool:
    return path.startswith("/api/v1/") and not any(path.startswith(p) for p in OPEN_PATHS)


def test_every_operation_has_a_summary_in_words_and_a_description(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    bad: list[str] = []
    for method, path, operation in _operations(schema):
        summary = operation.get("summary", "")
        if len(summary.split()) < 2:
            bad.append(f"{method} {path}: summary {summary!r} is not words")
        if not operation.get("description", "").strip():
            bad.append(f"{method} {path}: no description")
    assert bad == [], "\n".join(bad)


def test_every_authenticated_route_documents_401_and_403_with_a_schema(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    bad: list[str] = []
    for method, path, operation in _operations(schema):
        if not _authenticated(path):
            continue
        for code in ("401", "403"):
            answer = operation.get("responses", {}).get(code)
            if answer is None:
                bad.append(f"{method} {path}: no {code}")
            elif "schema" not in answer.get("content", {}).get("application/json", {}):
                bad.append(f"{method} {path}: {code} without a schema")
    assert bad == [], "\n".join(bad)


def test_every_documented_error_has_a_schema_and_every_input_a_422(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    bad: list[str] = []
    for method, path, operation in _operations(schema):
        responses = operation.get("responses", {})
        for code, answer in responses.items():
            if code.startswith("4") and "schema" not in answer.get("content", {}).get("application/json", {}):
                bad.append(f"{method} {path}: {code} without a schema")
        if (operation.get("parameters") or operation.get("requestBody")) and "422" not in responses:
            bad.append(f"{method} {path}: takes input but documents no 422")
        if method == "POST" and "requestBody" in operation and "413" not in responses:
            bad.append(f"{method} {path}: takes a body but documents no 413")
        if method == "POST" and "409" not in responses:
            bad.append(f"{method} {path}: a POST (Idempotency-Key) documents no 409")
    assert bad == [], "\n".join(bad)


def test_every_schema_field_has_a_description(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    bad = [
        f"{name}.{field}"
        for name, model in schema["components"]["schemas"].items()
        for field, spec in model.get("properties", {}).items()
        if not spec.get("description", "").strip()
    ]
    assert bad == [], f"{len(bad)} fields without a description: {' '.join(bad)}"


def test_the_documented_401_is_what_a_caller_without_a_token_gets(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    documented = schema["paths"]["/api/v1/alerts"]["get"]["responses"]["401"]
    ref = documented["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    required = schema["components"]["schemas"][ref]["required"]
    answer = world.client.get("/api/v1/alerts")
    assert answer.status_code == 401
    assert set(required) <= set(answer.json())


def _has_example(schema: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    ref = media.get("schema", {}).get("$ref")
    model = schema["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}) if ref else {}
    return "examples" in model or "example" in model


def test_every_operation_has_an_example_answer(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    bad: list[str] = []
    for method, path, operation in _operations(schema):
        for code, answer in operation.get("responses", {}).items():
            for media_type, media in answer.get("content", {}).items() if code.startswith("2") else ():
                if not _has_example(schema, media):
                    bad.append(f"{method} {path}: {code} {media_type} without an example")
    assert bad == [], "\n".join(bad)


def test_every_body_has_an_example(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    bad = [
        f"{method} {path}: {media_type} body without an example"
        for method, path, operation in _operations(schema)
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items()
        if not _has_example(schema, media)
    ]
    assert bad == [], "\n".join(bad)


def test_the_documented_403_and_422_are_what_a_caller_gets(world: World) -> None:
    from api.responses import ErrorOut, ValidationErrorOut

    refused = world.client.get("/api/v1/reports/sla", headers=world.auth("viewer"))
    assert refused.status_code == 403
    assert "manager" in ErrorOut.model_validate(refused.json()).detail
    bad = world.client.get("/api/v1/alerts?limit=0", headers=world.auth("viewer"))
    assert bad.status_code == 422
    errors = ValidationErrorOut.model_validate(bad.json()).detail
    assert not isinstance(errors, str) and errors[0].loc == ["query", "limit"]
