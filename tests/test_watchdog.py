"""The watchdog's decision (facwatch/watchdog.py) as a table, and one look round with a fake clock of ticks."""

from __future__ import annotations

import pytest

from facwatch.watchdog import Step, Watchdog, decide


@pytest.mark.parametrize(
    ("running_s", "told", "step"),
    [
        (None, False, Step.NOTHING),  # between ticks
        (0.01, False, Step.NOTHING),  # a tick takes milliseconds
        (29.9, False, Step.NOTHING),
        (30.0, False, Step.TELL),  # stuck: told once
        (95.0, True, Step.NOTHING),  # still stuck: not told again
        (None, True, Step.TELL_OVER),  # it finished: told it is over
        (0.2, True, Step.TELL_OVER),  # a new tick running normally
    ],
)
def test_decide(running_s: float | None, told: bool, step: Step) -> None:
    assert decide(running_s, told, 30.0) is step


def test_each_stall_is_told_once_and_its_end_once() -> None:
    running: dict[str, float | None] = {"a": None, "b": 0.1}
    sent: list[tuple[str, str]] = []
    dog = Watchdog(lambda: running, lambda site, title, body: sent.append((site, title)) is None, stall_s=30)
    dog.look()
    running["a"] = 31.0
    dog.look()
    dog.look()
    assert dog.probe() == "site a: the engine has not finished a tick for 31 s"
    running["a"] = None
    dog.look()
    assert [(s, "stuck" in t) for s, t in sent] == [("a", True), ("a", False)]
    assert dog.probe() is None
