"""``api.admin_token``: the bootstrap admin of ``facwatch run``, as an operator uses it against the real API.

The token in the settings opens the API (it is stored hashed in the token store when the API starts); any
other token is refused with 401; revoking it with ``facwatch token revoke`` lasts across restarts (to replace
it, set another). A token too short to be safe is refused by ``check``/``run`` (tests/config/test_site_errors.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from api.auth import TokenStore
from facwatch.state import open_engine
from tests.fixtures.servers import free_port, stop_process
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration

WORKTREE = Path(__file__).resolve().parents[2]
ADMIN = "bootstrap-admin-token-0123456789"
ENV = {**os.environ, "PYTHONPATH": str(WORKTREE)}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "facwatch.cli", *args]
    return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=60, check=False)


@contextmanager
def api(config: Path, port: int) -> Iterator[str]:
    """``facwatch run --only api`` of this worktree until the block ends."""
    log = config.parent / "facwatch.log"
    command = [sys.executable, "-m", "facwatch.cli", "run", "--config", str(config), "--only", "api"]
    proc = subprocess.Popen(command, env=ENV, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, log.read_text(encoding="utf-8", errors="replace")[-3000:]
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 60, "the API process")
        yield url
    finally:
        stop_process(proc)  # type: ignore[arg-type]


def status(url: str, token: str) -> int:
    answer = httpx.get(f"{url}/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return answer.status_code


def test_the_settings_admin_token_opens_the_api_until_it_is_revoked(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "facwatch.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nsite = "demo"\nlog_format = "json"\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{free_port()}"\n[api]\nport = {port}\nadmin_token = "{ADMIN}"\n',
        encoding="utf-8",
    )
    with api(config, port) as url:
        assert status(url, ADMIN) == 200
        assert status(url, ADMIN[:-1] + "X") == 401  # only that token
    listing = cli("token", "--config", str(config), "list")
    assert listing.returncode == 0 and "admin (settings)" in listing.stdout and ADMIN not in listing.stdout
    token_id = next(line.split()[0] for line in listing.stdout.splitlines() if "admin (settings)" in line)
    assert cli("token", "--config", str(config), "revoke", token_id).returncode == 0
    # What the next start does with the same setting (registering is idempotent): it stays revoked.
    store = TokenStore(open_engine(f"sqlite:///{tmp_path / 'data' / 'state.db'}"), cache_s=0)
    store.register("admin (settings)", ["admin"], ADMIN)
    assert store.verify(ADMIN) is None
