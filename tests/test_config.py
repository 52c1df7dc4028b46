"""Settings and site files: what an operator writes, and the errors they get when it is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from facwatch.config import load_settings, load_site
from facwatch.errors import ConfigError
from facwatch.model import AssetKind


def test_demo_site_has_the_promised_compound() -> None:
    site = load_site("demo", variables={"data_dir": "/tmp/x"})
    kinds = [a.kind for a in site.assets]
    assert len(site.buildings) >= 2
    assert kinds.count(AssetKind.ELEVATOR) >= 4
    assert kinds.count(AssetKind.PUMP) >= 3
    assert kinds.count(AssetKind.POWER) >= 2
    assert [p.role for p in site.escalation_chain()] == ["engineer", "supervisor", "manager"]
    assert all(site.owners_of(b.id) for b in site.buildings)
    # Placeholders are filled, so the demo's notifications land in its data directory.
    assert "jsonl:///tmp/x/notifications.jsonl" in site.people[0].notify
    assert all(a.checkin_code for a in site.assets)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[site]\nid='bad id!'\n", "site id"),  # ids follow the topic scheme
        ("nothing = 1\n", r"site: missing; expected the \[site\] table"),  # the head table is required
        (  # an asset in a building that does not exist
            "[site]\nid='s'\n[[assets]]\nid='a'\nkind='pump'\nbuilding='nowhere'\n",
            "no building 'nowhere'",
        ),
        (  # an unknown kind
            "[site]\nid='s'\n[[buildings]]\nid='b'\n[[assets]]\nid='a'\nkind='boiler'\nbuilding='b'\n",
            "expected 'elevator', 'pump' or 'power', got 'boiler'",
        ),
        ("[site]\nid='s'\n[escalation]\nchain=['ghost']\n", "no person 'ghost'"),  # chain names people
        (  # an asset without a check-in code: arrival could not be proven (the file and the asset are named)
            "[site]\nid='s'\n[[buildings]]\nid='b'\n[[assets]]\nid='pump-9'\nkind='pump'\nbuilding='b'\n",
            r"site\.toml:5: assets\[0\]\.checkin_code \(pump-9\): missing",
        ),
        (  # a code that can be guessed
            "[site]\nid='s'\n[[buildings]]\nid='b'\n[[assets]]\nid='a'\nkind='pump'\nbuilding='b'\n"
            "checkin_code='1234'\n",
            "at least 8 random characters",
        ),
        ("[site\n", "not valid TOML"),  # syntax errors say so
    ],
)
def test_bad_site_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "site.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_site(path)


def test_settings_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "facwatch.toml"
    path.write_text('data_dir = "/srv/fw"\n[mqtt]\nurl = "mqtt://broker:1883"\n[api]\nport = 9000\n')
    monkeypatch.setenv("FACWATCH_API__PORT", "9100")
    settings = load_settings(path)
    assert settings.mqtt.url == "mqtt://broker:1883"
    assert settings.api.port == 9100  # the environment overrides the file
    assert settings.state_url == "sqlite:////srv/fw/state.db"


def test_settings_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "facwatch.toml"
    path.write_text("[api]\nport = -1\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_settings(path)


def test_shipped_example_config_loads() -> None:
    settings = load_settings(Path(__file__).parent.parent / "deploy" / "facwatch.toml")
    assert settings.log_format == "json"
