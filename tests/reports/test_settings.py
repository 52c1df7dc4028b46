"""One public address for every owner-facing link, and two clearly separate secrets: the top-level
``public_url`` fills ``[reports]`` and ``[owner_reports]``; two different addresses, or one key for both the
report pages and the QR codes, stop the start with a message that says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from facwatch.config import load_settings
from facwatch.errors import ConfigError


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "facwatch.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_the_top_level_public_url_is_every_links_address(tmp_path: Path) -> None:
    settings = load_settings(None, public_url="https://fw.example.com/")
    assert settings.reports.public_url == settings.owner_reports.public_url == "https://fw.example.com"
    # a section's own address alone is taken for both too
    path = tmp_path / "facwatch.toml"
    path.write_text('[reports]\npublic_url = "https://fw.example.com"\n', encoding="utf-8")
    assert load_settings(path).owner_reports.public_url == "https://fw.example.com"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            'public_url = "https://a.example"\n[owner_reports]\npublic_url = "https://b.example"\n',
            "one address",
        ),
        (
            '[reports]\npage_secret = "0123456789abcdef0"\n[owner_reports]\nsecret = "0123456789abcdef0"\n',
            "must differ",
        ),
    ],
)
def test_two_addresses_or_one_secret_for_both_stop_the_start(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert words in str(caught.value)
