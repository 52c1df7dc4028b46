"""A small valid site file for the config tests, and a way to break one key of it."""

from __future__ import annotations

GOOD = """\
[site]
id = "hill"
name = "Hillside"
timezone = "Asia/Shanghai"

[[buildings]]
id = "b1"

[[assets]]
id = "b1-elev-1"
kind = "elevator"
building = "b1"
checkin_code = "QJ9N-39Y3"

[[assets]]
id = "b1-pump-1"
kind = "pump"
building = "b1"
checkin_code = "JKJS-TQE4"
interval_s = 5

[[people]]
id = "eng-wang"
notify = ["console://", "wecombot://BOTKEY"]

[[people]]
id = "eng-chen"
notify = ["mailtos://user:pass@smtp.example.com?to=chen@example.com"]

[[owners]]
building = "b1"
notify = ["jsonl://{data_dir}/n.jsonl"]

[escalation]
chain = ["eng-wang", "eng-chen"]

[[rota]]
day = "eng-wang"
night = "eng-chen"
"""


def broken(old: str, new: str) -> str:
    """``GOOD`` with one passage replaced (the passage must be there: a test that breaks nothing proves nothing)."""
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)
