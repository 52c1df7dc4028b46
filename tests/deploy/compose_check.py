"""The offline checks of a compose file's services (deploy/compose.yaml), as a pure function: the problems found,
each naming the service and what is wrong, so that a test can show both the shipped file passing and a file
broken on purpose failing for the right reason. Docker Compose itself is not needed."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

from facwatch.cli import _parser, cmd_run
from facwatch.config import PARTS
from facwatch.worker import ROLES

PART_NAMES = frozenset({*PARTS, *ROLES})
"""What ``--only`` accepts: the parts and the ``worker`` role (gateway + engine + clocks + delivery, by lease)."""
FACWATCH_IMAGE = "facwatch:latest"
PINNED = re.compile(r"[a-z0-9./-]+:v?[0-9][\w.-]*")
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")


def facwatch_parts(command: list[str]) -> list[str] | str:
    """The parts a facwatch container's command runs, or what is wrong with it (parsed by facwatch's own
    command-line parser: the command must be ``run --config FILE [--only PARTS]``)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            args = _parser().parse_args(command)
    except SystemExit:
        return f"facwatch does not accept the command {command}"
    if getattr(args, "func", None) is not cmd_run:
        return f"{command} is not `facwatch run`"
    parts = [p.strip() for p in str(args.only).split(",") if p.strip()]
    unknown = sorted(set(parts) - PART_NAMES)
    return f"unknown parts {unknown} (facwatch knows {sorted(PART_NAMES)})" if unknown else parts


def problems(services: dict[str, dict[str, Any]], here: Path) -> list[str]:
    """Everything wrong with ``services`` (a compose file's ``services``, the file in ``here``)."""
    found: list[str] = []
    for name, service in services.items():
        image = str(service.get("image", ""))
        if image == FACWATCH_IMAGE:
            build = service.get("build", {})
            if not (here / build.get("context", "?") / build.get("dockerfile", "?")).exists():
                found.append(f"{name}: builds from a Dockerfile that does not exist")
            parts = facwatch_parts([str(word) for word in service.get("command", [])])
            if isinstance(parts, str):
                found.append(f"{name}: {parts}")
        elif not PINNED.fullmatch(image):
            found.append(f"{name}: image {image!r} is not pinned to a version")
        test = service.get("healthcheck", {}).get("test")
        if not test or test[0] not in ("CMD", "CMD-SHELL"):
            found.append(f"{name}: no healthcheck")
        for needed, how in service.get("depends_on", {}).items():
            if needed not in services:
                found.append(f"{name}: waits for {needed}, which does not exist")
            elif how.get("condition") not in CONDITIONS:
                found.append(f"{name}: waits for {needed} on an unknown condition {how.get('condition')!r}")
            elif how["condition"] == "service_healthy" and "healthcheck" not in services[needed]:
                found.append(f"{name}: waits for {needed} to be healthy, which has no healthcheck")
    started: set[str] = set()
    while len(started) < len(services):  # a cycle leaves some services never startable
        ready = {
            n for n, s in services.items() if n not in started and set(s.get("depends_on", {})) <= started
        }
        if not ready:
            found.append(f"a dependency cycle among {sorted(set(services) - started)}")
            break
        started |= ready
    return found
