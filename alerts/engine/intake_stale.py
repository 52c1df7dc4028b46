"""Judgements of the findings queue made under a lease that is gone: dropped, never committed under another epoch.

- A commit refused because this worker no longer holds the site's lease (``StaleOwner``) is not a bug, and
  it is final: a lease once lost is never renewed under the same epoch, so everything queued here was judged
  under a lease that is gone. The refused entry and every entry behind it (and any queued later, until the
  site is stopped) are dropped (``drop_queued``), logged as ``intake.dropped_stale`` with how many and why, and
  never committed under another epoch (a worker that wins the site back starts a new intake). Nothing is lost
  by this: the checkpoint is never written while an entry waits here (``uncommitted``, read by
  ``alerts/engine/checkpoint.py`` under the lock that keeps judging out of it), so the site's checkpoint
  predates every dropped judgement and the new owner judges their readings again from the telemetry store
  (its restore's replay, at most ``REPLAY_MAX_S`` back: a takeover comes within the lease time; a reading
  still in this worker's local spool is not in the store yet) or gets them through MQTT redelivery (a site
  not held acknowledges nothing).
- An entry left by a crash or by a stop during a state-database outage was never refused. Each entry is stored
  with the lease epoch it was judged under (``epoch``; None without leases), and before the committer commits
  anything an earlier run left (``Intake._screen``) it reads the epoch of the site's newest checkpoint
  (``checkpoint_epoch``): an entry judged under an older epoch is dropped like a refused one (``superseded``,
  ``drop_superseded``: a later owner checkpointed the site, so it restored a checkpoint older than the entry and
  judged its readings again); the others are committed, noted late (docs/architecture.md, "Leases", rule 3 and
  the limits).

The committer (``alerts/engine/intake.py``) decides when; these functions drop, log and return how many.
"""

from __future__ import annotations

import contextlib

from prometheus_client import Counter
from structlog.typing import FilteringBoundLogger

from alerts.engine.intake_queue import FindingsQueue
from facwatch.model import Finding, utc_from_ms

DROPPED_STALE = Counter(
    "facwatch_intake_dropped_stale_total",
    "Queued judgements dropped because the site's lease was lost (the new owner judges them again)",
    ["site"],
)


def superseded(judged_under: int | None, checkpoint_under: int | None) -> bool:
    """Whether a queued judgement left by an earlier run is dropped instead of committed: it was judged under
    lease epoch ``judged_under`` and the site's newest checkpoint was written under ``checkpoint_under``, a later
    tenure (every owner writes one at start once its queue is empty): that owner restored a checkpoint that
    predates the judgement and judged its readings again. Unknown epochs (no leases, an older queue file, no
    checkpoint or one from before epochs): never dropped, committed as before."""
    return judged_under is not None and checkpoint_under is not None and checkpoint_under > judged_under


def _named(finding: Finding) -> str:
    """A finding in a log line: ``red elevator.entrapment on b1-elev-1 since 08:00:04``."""
    state = "since" if finding.active else "cleared"
    when = f"{utc_from_ms(finding.ts_ms):%H:%M:%S}"
    return f"{finding.level.value} {finding.kind} on {finding.asset} {state} {when}"


def drop_superseded(
    queue: FindingsQueue, inherited: int, newest: int, now_ms: int, log: FilteringBoundLogger
) -> int:
    """Drop the entries an earlier run left (ids up to ``inherited``) that the newest checkpoint, of lease epoch
    ``newest``, supersedes; returns how many were dropped."""
    queued = queue.head(len(queue))
    dropped = [e for e in queued if e.id <= inherited and superseded(e.epoch, newest)]
    if not dropped:
        return 0
    queue.drop([e.id for e in dropped])
    findings: list[str] = []
    for entry in dropped[:10]:
        with contextlib.suppress(Exception):  # undecodable: dropped all the same
            findings.extend(_named(f) for f in entry.judgement().findings)
    log.warning(
        "intake.dropped_stale",
        dropped=len(dropped),
        why=f"judged under lease epoch {dropped[0].epoch}; the site's newest checkpoint is of epoch {newest}",
        reason="left by a run that lost the site (killed, or stopped in a state-database outage): a later "
        "owner restored a checkpoint older than these judgements and judged their readings again",
        oldest_s=round((now_ms - dropped[0].queued_ms) / 1000, 1),
        findings=findings[:10],
    )
    return len(dropped)


def drop_queued(queue: FindingsQueue, why: str, waited_s: float, log: FilteringBoundLogger) -> int:
    """Drop every queued judgement: judged under a lease that is gone, judged again by the new owner. ``waited_s``:
    the oldest entry's age. Returns how many were dropped."""
    if not len(queue):
        return 0
    findings: list[str] = []
    for entry in queue.head(10):
        with contextlib.suppress(Exception):  # undecodable: dropped all the same
            findings.extend(_named(f) for f in entry.judgement().findings)
    dropped = queue.drop_all()
    log.warning(
        "intake.dropped_stale",
        dropped=dropped,
        why=why[:300],
        reason="judged under a lease that is lost: the new owner judges these readings again from the "
        "telemetry store (no checkpoint was written past them)",
        oldest_s=round(waited_s, 1),  # beyond the new owner's replay (REPLAY_MAX_S): see the docstring
        findings=findings[:10],
    )
    return dropped
