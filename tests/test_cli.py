"""The command line as an operator uses it: tokens for the API, checking the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from facwatch.cli import main


def test_token_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["token", "--data-dir", str(tmp_path)]
    assert main([*data, "create", "ticket-system", "--scope", "integration"]) == 0
    secret = capsys.readouterr().out.strip()
    assert len(secret) >= 40

    assert main([*data, "list"]) == 0
    listing = capsys.readouterr().out
    assert "ticket-system" in listing and "integration" in listing
    assert secret not in listing  # the token itself is shown once, at creation, never again
    token_id = listing.split()[0]

    assert main([*data, "revoke", token_id]) == 0
    assert main([*data, "list"]) == 0
    assert "revoked" in capsys.readouterr().out


def test_revoking_an_unknown_token_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--data-dir", str(tmp_path), "revoke", "nope"]) == 1
    assert "no active token" in capsys.readouterr().err


def test_bad_scope_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--data-dir", str(tmp_path), "create", "x", "--scope", "root"]) == 2
    assert "scope" in capsys.readouterr().err


def test_check_validates_the_site_file_and_names_an_asset_without_a_check_in_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "lakeside.toml"
    site.write_text(
        "[site]\nid = 'lakeside'\n[[buildings]]\nid = 'b1'\n"
        "[[assets]]\nid = 'b1-pump-1'\nkind = 'pump'\nbuilding = 'b1'\n"
    )
    config = tmp_path / "facwatch.toml"
    config.write_text(f"site = '{site}'\ndata_dir = '{tmp_path}'\n")
    assert main(["check", "--config", str(config)]) == 1
    error = capsys.readouterr().err
    assert str(site) in error and f"{site}:5: assets[0].checkin_code (b1-pump-1): missing" in error
    with site.open("a") as f:
        f.write("checkin_code = 'R7KX-2MQ9'\n")
    assert main(["check", "--config", str(config)]) == 0
    assert "valid" in capsys.readouterr().out
