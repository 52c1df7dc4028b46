"""Shared fixtures: real servers (tests/fixtures/*) are plugins so that every test directory can use them."""

pytest_plugins = [
    "tests.fixtures.influx",
    "tests.fixtures.mqtt",
    "tests.fixtures.postgres",
    "tests.fixtures.receivers",
    "tests.fixtures.victoria",
]
