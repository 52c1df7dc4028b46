"""The import rules of ARCHITECTURE.md ("Layout"), checked on the source: a rule that is not tested erodes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT_SHARED = {
    "facwatch.model",
    "facwatch.config",
    "facwatch.clock",
    "facwatch.errors",
}
PACKAGES = ("gateway", "ingest", "alerts", "simulator", "api", "facwatch")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (imports inside functions count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def _violations(package: str, allowed: object) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module in sorted(_imports(path)):
            if _ours(module) and not allowed(path.relative_to(ROOT).as_posix(), module):  # type: ignore[operator]
                out.append(f"{path.relative_to(ROOT)} imports {module}")
    return out


def _edge_rule(home: str) -> object:
    """gateway, ingest, alerts: their own package, and only the shared values of the product package."""

    def allowed(path: str, module: str) -> bool:
        return module.split(".")[0] == home or any(
            module == m or module.startswith(m + ".") for m in PRODUCT_SHARED
        )

    return allowed


@pytest.mark.parametrize("package", ["gateway", "ingest", "alerts"])
def test_edge_packages_import_only_themselves_and_the_shared_values(package: str) -> None:
    assert _violations(package, _edge_rule(package)) == []


# stage -> the stages it may import besides itself (notify may use engine's values, engine detection's findings)
STAGES = {"detection": set(), "engine": {"detection"}, "notify": {"engine"}}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_alert_stages_import_one_way(stage: str) -> None:
    def allowed(path: str, module: str) -> bool:
        parts = module.split(".")
        if parts[0] != "alerts" or len(parts) < 2 or parts[1] not in STAGES:
            return True
        return parts[1] == stage or parts[1] in STAGES[stage]

    assert _violations(f"alerts/{stage}", allowed) == []


def test_api_imports_the_services_not_the_gateway() -> None:
    def allowed(path: str, module: str) -> bool:
        top = module.split(".")[0]
        if top == "facwatch":  # of the product package, only the values every part shares
            return any(module == m or module.startswith(m + ".") for m in PRODUCT_SHARED)
        return top != "gateway"

    assert _violations("api", allowed) == []


def test_simulator_speaks_only_the_gateways_contract() -> None:
    def allowed(path: str, module: str) -> bool:
        top = module.split(".")[0]
        contract = ("gateway.topics", "gateway.codec")
        return top in {"simulator", "facwatch"} or module.startswith(contract)

    assert _violations("simulator", allowed) == []
