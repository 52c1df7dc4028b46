"""The command line as an operator uses it: tokens for the API."""

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
