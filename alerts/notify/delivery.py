"""What happens to a receipt after a send, in one place (pure): ``decide(facts, event, now) -> (change, reason)``.

Everything that affects a retry, a fallback or giving up lives here, as one function over a small table of
outcomes; the dispatcher (``alerts.notify.dispatcher``) loads the facts, runs the send, and stores the change.

Outcomes of one attempt (``Outcome``):

- ``sent``: the target took it. A RED keeps its other channels going; anything else needs one channel,
  so the others are skipped.
- ``refused``: the target answered with an error, or could not be reached: a known failure. Retried with
  exponential backoff, abandoned after ``max_attempts``; the next channel in the recipient's order wakes
  (fallback), unless a non-RED message already got through elsewhere.
- ``unknown``: the send had started and its deadline passed mid-request (or the process died during it):
  the receiver may or may not have it. The only case that may give a duplicate; the retry carries the same
  reference. Counted as an attempt and retried after the same backoff as a failure (a slow target that did
  take the message is not flooded with copies), and it wakes the next channel like a failure.
- ``not_started``: the send never began (the target's slots were all busy, or the process was stopping). Not
  an attempt, not a failure: the receipt is due again as it was, and nobody else is woken.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Outcome(StrEnum):
    SENT = "sent"
    REFUSED = "refused"
    UNKNOWN = "unknown"
    NOT_STARTED = "not_started"


class Reason(StrEnum):
    DELIVERED = "sent: delivered"
    DELIVERED_ENOUGH = "sent: delivered; the other channels need not try"
    RETRY = "failed: the target refused or was unreachable; retried after backoff"
    GIVE_UP = "abandoned: no attempts left"
    UNKNOWN_RETRY = "outcome unknown: the send started but did not finish; retried with the same reference"
    UNKNOWN_GIVE_UP = "abandoned: outcome unknown and no attempts left"
    NOT_STARTED = "not started: due again, not counted as an attempt"


@dataclass(frozen=True, slots=True)
class Policy:
    """How hard to try: from ``[notify]`` (``NotifySettings``)."""

    max_attempts: int = 8
    backoff_s: float = 5.0
    backoff_cap_s: float = 600.0


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known of the receipt when its attempt ends."""

    attempts: int
    """Attempts counted so far, including the one that just ended (it was counted when it was claimed)."""
    red: bool
    delivered_elsewhere: bool
    """Another channel of the same notification has already delivered it."""
    policy: Policy = Policy()


@dataclass(frozen=True, slots=True)
class Event:
    outcome: Outcome
    error: str | None = None
    """The target's own words (refused), or why the outcome is unknown."""


@dataclass(frozen=True, slots=True)
class Change:
    """What to store on the receipt, and what it means for the notification's other channels."""

    status: str
    """``sent`` | ``failed`` | ``abandoned`` | ``pending``."""
    attempts: int
    next_attempt_at: datetime | None = None
    """When it is due again (``failed``, ``pending``); None: unchanged."""
    error: str | None = None
    sent_at: datetime | None = None
    wake_next: bool = False
    """Wake the next ``standby`` channel of the notification (fallback)."""
    skip_others: bool = False
    """Mark the notification's other active channels ``skipped``."""


def backoff(policy: Policy, attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: ``backoff_s``, doubling, up to ``backoff_cap_s``."""
    return float(min(policy.backoff_cap_s, policy.backoff_s * 2 ** max(0, attempts - 1)))


def decide(facts: Facts, event: Event, now: datetime) -> tuple[Change, Reason]:
    """The receipt's next state after one attempt ended at ``now`` with ``event``."""
    policy = facts.policy
    out_of_attempts = facts.attempts >= policy.max_attempts
    wake = facts.red or not facts.delivered_elsewhere
    retry = now + timedelta(seconds=backoff(policy, facts.attempts))
    match event.outcome:
        case Outcome.SENT:
            change = Change("sent", facts.attempts, sent_at=now, skip_others=not facts.red)
            return change, Reason.DELIVERED if facts.red else Reason.DELIVERED_ENOUGH
        case Outcome.NOT_STARTED:
            return Change("pending", max(0, facts.attempts - 1), next_attempt_at=now), Reason.NOT_STARTED
        case Outcome.UNKNOWN if out_of_attempts:
            return Change(
                "abandoned", facts.attempts, error=event.error, wake_next=wake
            ), Reason.UNKNOWN_GIVE_UP
        case Outcome.UNKNOWN:
            change = Change(
                "failed", facts.attempts, next_attempt_at=retry, error=event.error, wake_next=wake
            )
            return change, Reason.UNKNOWN_RETRY
        case Outcome.REFUSED if out_of_attempts:
            return Change("abandoned", facts.attempts, error=event.error, wake_next=wake), Reason.GIVE_UP
        case Outcome.REFUSED:
            change = Change(
                "failed", facts.attempts, next_attempt_at=retry, error=event.error, wake_next=wake
            )
            return change, Reason.RETRY
    raise ValueError(f"unknown outcome {event.outcome!r}")  # pragma: no cover - the match is exhaustive


__all__ = ["Change", "Event", "Facts", "Outcome", "Policy", "Reason", "backoff", "decide"]
