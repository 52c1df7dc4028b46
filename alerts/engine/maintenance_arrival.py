"""Arrival evidence (pure): what the sensors say about a person's hands on a machine, to corroborate a check-in.

A check-in proves arrival with the code posted at the asset; a code can be typed from a desk, so the sensors
are asked too. Each of these is a *sign* that someone works the machine itself:
- elevator: the car moves while on inspection (检修) or rescue control (``inspection_mode`` set), or its
  doors open at a landing (``door_open`` rising while ``in_door_zone``);
- pump: a start or stop (``running`` changes);
- power panel: a breaker operation (a phase current ``current_l1_a``…``l3_a`` falls to zero or rises from it).

A check-in is ``corroborated`` when a sign on its asset falls within ``WINDOW_S`` of it, before or after
(the technician may first free the people, then type the code, or the other way round); otherwise it is
shown by the ``code`` only. ``Signs`` keeps one value per channel it reads and the newest sign per asset
(bounded: a few entries per asset), and the signs that arrived since the shell last looked (``drain``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from facwatch.model import Reading, utc_from_ms

WINDOW_S = 15 * 60.0
"""A sign within this long of a check-in, before or after, corroborates it."""
MOVING_MPS = 0.05
ZERO_A = 0.5
PHASES = ("current_l1_a", "current_l2_a", "current_l3_a")
READ = frozenset({"inspection_mode", "speed_mps", "door_open", "in_door_zone", "running", *PHASES})


class Arrival(StrEnum):
    CODE = "code"
    """The code posted at the asset, and no sign from the sensors within the window."""
    CORROBORATED = "corroborated"
    """The code, and the sensors show a person's hands on the machine within the window."""


class Sign(StrEnum):
    INSPECTION_MOVE = "the car moved under inspection or rescue control"
    LANDING_DOORS = "the doors opened at a landing"
    PUMP_STARTED = "the pump was started locally"
    PUMP_STOPPED = "the pump was stopped locally"
    BREAKER = "a breaker was operated"


@dataclass(frozen=True, slots=True)
class Seen:
    asset: str
    ts_ms: int
    sign: Sign

    @property
    def at(self) -> datetime:
        return utc_from_ms(self.ts_ms)


def corroborates(sign_at: datetime, checked_in_at: datetime) -> bool:
    return abs(sign_at - checked_in_at) <= timedelta(seconds=WINDOW_S)


def decide_arrival(sign: Seen | None, checked_in_at: datetime) -> tuple[Arrival, str]:
    """How a check-in at ``checked_in_at`` showed arrival, given the asset's newest sign; with the note."""
    if sign is not None and corroborates(sign.at, checked_in_at):
        return Arrival.CORROBORATED, f"arrival corroborated: {sign.sign.value} at {sign.at.isoformat()}"
    return Arrival.CODE, "arrival shown by the code only: no sign from the sensors yet"


class Signs:
    """The newest sign per asset, from the readings as they are judged."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], float] = {}
        self._newest: dict[str, Seen] = {}
        self._fresh: list[Seen] = []

    def observe(self, readings: Iterable[Reading]) -> None:
        """Take a batch in its order (a device's readings arrive in time order). On the hot path: most
        readings are skipped by a set look-up or a moving car in normal service."""
        values = self._values
        for r in readings:
            channel = r.channel
            if channel not in READ:
                continue
            key = (r.asset, channel)
            before = values.get(key)
            values[key] = r.value
            if channel == "speed_mps":
                if abs(r.value) < MOVING_MPS or values.get((r.asset, "inspection_mode"), 0.0) < 0.5:
                    continue
            elif before is None or ((before >= 0.5) == (r.value >= 0.5) and channel not in PHASES):
                continue
            sign = self._sign(r, before)
            if sign is not None:
                self._mark(Seen(r.asset, r.ts_ms, sign))

    def _value(self, asset: str, channel: str) -> float:
        return self._values.get((asset, channel), 0.0)

    def _sign(self, r: Reading, before: float | None) -> Sign | None:
        if r.channel == "speed_mps" and abs(r.value) >= MOVING_MPS:
            return Sign.INSPECTION_MOVE if self._value(r.asset, "inspection_mode") >= 0.5 else None
        if r.channel == "door_open" and before is not None and before < 0.5 <= r.value:
            return Sign.LANDING_DOORS if self._value(r.asset, "in_door_zone") >= 0.5 else None
        if r.channel == "running" and before is not None and (before >= 0.5) != (r.value >= 0.5):
            if (r.asset, "speed_mps") in self._values:  # an elevator's running flag is not a pump's
                return None
            return Sign.PUMP_STARTED if r.value >= 0.5 else Sign.PUMP_STOPPED
        if r.channel in PHASES and before is not None and (before > ZERO_A) != (r.value > ZERO_A):
            return Sign.BREAKER
        return None

    def _mark(self, seen: Seen) -> None:
        last = self._newest.get(seen.asset)
        if last is None or seen.ts_ms >= last.ts_ms:
            self._newest[seen.asset] = seen
        if (
            not self._fresh
            or self._fresh[-1].asset != seen.asset
            or seen.ts_ms - self._fresh[-1].ts_ms > 60_000
        ):
            self._fresh.append(seen)  # one per asset per minute is enough to look for a check-in
            del self._fresh[:-1000]

    def newest(self, asset: str) -> Seen | None:
        return self._newest.get(asset)

    def drain(self) -> list[Seen]:
        """The signs since the last call (for check-ins made before their sign)."""
        fresh, self._fresh = self._fresh, []
        return fresh

    def give_back(self, drained: list[Seen]) -> None:
        """Signs a failed tick drained, put back before the newer ones, for the next tick."""
        self._fresh[:0] = drained
        del self._fresh[:-1000]
