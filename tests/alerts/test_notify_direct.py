"""The direct line to the fallback person: outside the outbox and the database, through the isolated sender,
to real receivers."""

from __future__ import annotations

import time

from alerts.notify.direct import tell_directly
from tests.fixtures.receivers import HttpReceiver, StuckReceiver
from tests.fixtures.servers import free_port


def dead_url() -> str:
    return f"json://127.0.0.1:{free_port()}/"


def test_the_message_reaches_a_real_receiver_without_any_database(http_receiver: HttpReceiver) -> None:
    assert tell_directly([http_receiver.url], "状态数据库不可用", "告警将延迟，请关注现场。") is True
    (body,) = http_receiver.wait_for(1)
    assert (body["title"], body["message"]) == ("状态数据库不可用", "告警将延迟，请关注现场。")


def test_one_channel_that_takes_it_is_enough_and_a_dead_one_is_no_obstacle(
    http_receiver: HttpReceiver,
) -> None:
    assert tell_directly([dead_url(), http_receiver.url], "t", "b") is True
    assert len(http_receiver.wait_for(1)) == 1


def test_false_when_no_channel_takes_it(http_receiver: HttpReceiver) -> None:
    http_receiver.fail_next = 1  # the receiver answers 503
    assert tell_directly([dead_url(), http_receiver.url], "t", "b") is False
    assert tell_directly([], "t", "b") is False


def test_a_hanging_channel_costs_only_its_deadline(
    hanging_receiver: StuckReceiver, http_receiver: HttpReceiver
) -> None:
    started = time.monotonic()
    assert tell_directly([hanging_receiver.url], "t", "b", deadline_s=1.0) is False
    assert time.monotonic() - started < 3  # the deadline, not apprise's own timeouts
    hanging_receiver.wait_for(1)
    # Beside a healthy channel it returns as soon as the healthy one took it.
    started = time.monotonic()
    assert tell_directly([hanging_receiver.url, http_receiver.url], "t", "b", deadline_s=5.0) is True
    assert time.monotonic() - started < 2
