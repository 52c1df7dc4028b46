"""The JSON Schema of site files published for editors (docs/site.schema.json) is the models' own, and has teeth."""

from __future__ import annotations

import importlib
import json
import tomllib
from pathlib import Path
from typing import Any, get_args

import pytest

from facwatch.model import MACHINE_KINDS
from facwatch.sitefile import MachineKind, SiteFile, demo_site_text, schema, schema_text
from tests.config.sites import GOOD

PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "site.schema.json"


def test_the_published_schema_is_what_the_models_generate() -> None:
    assert PUBLISHED.read_text(encoding="utf-8") == schema_text(), (
        "docs/site.schema.json is stale: python -m facwatch.sitefile > docs/site.schema.json"
    )


def schema_errors(data: dict[str, Any]) -> list[str]:
    """Validation against the published file: with jsonschema if installed, else jsonschema_rs, else the models."""
    published = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    for name in ("jsonschema", "jsonschema_rs"):
        try:
            module: Any = importlib.import_module(name)
        except ImportError:
            continue
        if name == "jsonschema":
            return [e.message for e in module.Draft202012Validator(published).iter_errors(data)]
        return [e.message for e in module.validator_for(published).iter_errors(data)]
    from pydantic import ValidationError

    try:
        SiteFile.model_validate(data)
    except ValidationError as exc:
        return [e["msg"] for e in exc.errors()]
    return []


@pytest.mark.parametrize("text", [demo_site_text(), GOOD], ids=["demo", "small"])
def test_shipped_and_test_sites_validate_against_the_schema(text: str) -> None:
    assert schema_errors(tomllib.loads(text)) == []


def test_the_schema_refuses_a_typo_and_a_short_check_in_code() -> None:
    data = tomllib.loads(demo_site_text())
    data["assets"][0]["checkin_cod"] = data["assets"][0].pop("checkin_code")
    data["assets"][1]["checkin_code"] = "1234"
    errors = schema_errors(data)
    assert len(errors) >= 2 and any("checkin_cod" in e for e in errors)


def test_the_schema_lists_exactly_the_machine_kinds() -> None:
    assert set(get_args(MachineKind)) == {k.value for k in MACHINE_KINDS}
    kinds = schema()["$defs"]["AssetSection"]["properties"]["kind"]["enum"]
    assert set(kinds) == {k.value for k in MACHINE_KINDS}
