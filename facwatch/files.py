"""Files that hold secrets (the state database with apprise URLs and webhook secrets, telemetry, the spool,
demo.json with its admin token) are created readable by their owner only.

SQLite creates a database's ``-wal`` and ``-shm`` files with the database file's own mode, so making the
main file 0600 before SQLite opens it is enough.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600


def private_file(path: Path) -> Path:
    """Create ``path`` (and its directory) if missing, mode 0600; tighten an existing file to 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, mode 0600 from the first byte on; atomically (a reader that sees the file
    sees all of it)."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    private_file(partial)
    partial.write_bytes(data)
    os.replace(partial, path)
