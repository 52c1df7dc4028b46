"""Settings that name several sites: ``site``, ``sites`` and ``sites_dir``; unique ids; per-site local files;
tokens limited to sites (stored, listed, and what ``Principal.sees``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from api.auth import TokenStore
from facwatch.cli import main
from facwatch.config import load_settings
from facwatch.errors import ConfigError
from facwatch.runtime import site_file
from facwatch.site_set import load_sites, site_sources
from facwatch.state import migrate, open_engine
from tests.multisite.sites import write_site


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "sites"
    path.mkdir()
    return path


def test_site_alone_is_the_one_site_setting(tmp_path: Path) -> None:
    # Default: the demo site, named by `site` (its files keep their one-site names).
    assert [(s.source, s.single) for s in site_sources(load_settings(data_dir=tmp_path))] == [("demo", True)]


def test_sites_and_sites_dir_add_up_in_order(folder: Path, tmp_path: Path) -> None:
    a, b = write_site(folder, "a"), write_site(folder, "b")
    extra = tmp_path / "extra"
    extra.mkdir()
    c = write_site(extra, "c")
    # sites without site: the demo default is not served too
    settings = load_settings(data_dir=tmp_path, sites=[str(c)], sites_dir=folder)
    assert [item.site.id for item in load_sites(settings)] == ["c", "a", "b"]
    # site set explicitly counts first, and a file named twice counts once
    settings = load_settings(data_dir=tmp_path, site=str(c), sites=[str(a), str(c)], sites_dir=folder)
    assert [(item.site.id, item.source.single) for item in load_sites(settings)] == [
        ("c", True),
        ("a", False),
        ("b", False),
    ]
    del b


def test_two_files_with_one_site_id_are_an_error_naming_both(folder: Path, tmp_path: Path) -> None:
    a = write_site(folder, "a")
    twin = folder / "zz-twin.toml"
    twin.write_text(a.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_sites(load_settings(data_dir=tmp_path, sites_dir=folder))
    assert "'a'" in str(caught.value) and str(a) in str(caught.value) and str(twin) in str(caught.value)


def test_a_missing_sites_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such folder"):
        site_sources(load_settings(data_dir=tmp_path, sites_dir=tmp_path / "nowhere"))


def test_check_validates_every_site(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_site(folder, "a")
    write_site(folder, "b")
    config = tmp_path / "facwatch.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nsites_dir = "{folder}"\n', encoding="utf-8")
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "site 'a'" in out and "site 'b'" in out
    (folder / "broken.toml").write_text("[site\nid = 'c'\n", encoding="utf-8")
    assert main(["check", "--config", str(config)]) == 1
    assert "broken.toml" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("single", "expected"),
    [
        (True, "findings.db"),  # the site named by `site =` keeps the one-site name
        (False, "findings-b.db"),  # every other site has its own file
    ],
)
def test_each_site_has_its_own_findings_file(tmp_path: Path, single: bool, expected: str) -> None:
    assert site_file(None, tmp_path / "findings.db", "b", single).name == expected


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    return engine


def test_a_token_limited_to_sites_sees_only_them(engine: Engine) -> None:
    store = TokenStore(engine, cache_s=0)
    limited = store.verify(store.create("desk-a", ["engineer"], sites=["a", "a", "b"]))
    everywhere = store.verify(store.create("desk", ["engineer"]))
    assert limited is not None and everywhere is not None
    assert limited.sites == frozenset({"a", "b"})
    assert limited.sees("a") and not limited.sees("c")
    assert everywhere.sites is None and everywhere.sees("c")
    listed = {info.name: info.sites for info in store.list()}
    assert listed == {"desk-a": ("a", "b"), "desk": None}
    with pytest.raises(ValueError, match="not a site id"):
        store.create("bad", ["viewer"], sites=["a/b"])
