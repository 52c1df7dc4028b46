"""Every valid site round-trips: a ``Site`` written as a site file loads back as the same ``Site`` (hypothesis).

The generator draws sites that respect every rule of the format (unique ids, references that exist, check-in
codes of 8+ characters, usable apprise URLs, staffed hours in order); writing one as TOML and loading it must
give back exactly the value that was written, so the models neither lose nor invent anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from facwatch.chat_config import Platform
from facwatch.config import load_site
from facwatch.model import (
    MACHINE_KINDS,
    AlertPolicy,
    AlertRule,
    Asset,
    Building,
    ChatGroup,
    ChatPolicy,
    Level,
    OwnerGroup,
    Person,
    RotaEntry,
    Site,
)
from facwatch.sitefile import Role
from facwatch.sitetypes import Lang

IDS = st.text("abcxyzAZ019_-", min_size=1, max_size=8)
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="{}"), max_size=20)
WORD = TEXT.map(str.strip).filter(bool)
CODE = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs")), min_size=8, max_size=16)
POSITIVE = st.floats(min_value=0.001, max_value=1e6, allow_nan=False)
SECONDS = st.none() | st.floats(min_value=0, max_value=1e5, allow_nan=False)
URLS = st.sampled_from(
    [
        "console://",
        "wecombot://BOTKEY",
        "jsonl:///var/lib/fw/n.jsonl",
        "json://127.0.0.1:9/hook",
        "mailtos://u:p@smtp.example.com?to=duty@example.com",
        "dingtalk://TOKEN/SECRET",
    ]
)


def unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


@st.composite
def sites(draw: st.DrawFn) -> Site:
    buildings = tuple(Building(b, draw(TEXT)) for b in unique(draw(st.lists(IDS, min_size=1, max_size=3))))
    bids = [b.id for b in buildings]
    assets = tuple(
        Asset(
            id=a,
            kind=draw(st.sampled_from(MACHINE_KINDS)),
            building=draw(st.sampled_from(bids)),
            name=draw(TEXT),
            interval_s=draw(POSITIVE),
            rated=draw(st.dictionaries(WORD, st.floats(-1e6, 1e6, allow_nan=False), max_size=3)),
            checkin_code=draw(CODE),
            profile=draw(st.none() | st.sampled_from(["elevator", "pump-strict"])),
        )
        for a in unique(draw(st.lists(IDS, max_size=4)))
    )
    pids = unique(draw(st.lists(IDS, min_size=1, max_size=4)))
    people = tuple(
        Person(
            p,
            draw(TEXT),
            draw(st.sampled_from(get_args(Role))),
            tuple(draw(st.lists(URLS, max_size=2))),
            draw(st.sampled_from(get_args(Lang))),
        )
        for p in pids
    )
    person = st.sampled_from(pids)
    owners = []
    for b in draw(st.lists(st.sampled_from(bids), max_size=2)):
        mine = [a.id for a in assets if a.building == b]
        chosen = tuple(draw(st.lists(st.sampled_from(mine), max_size=2, unique=True))) if mine else ()
        owners.append(
            OwnerGroup(
                b,
                draw(TEXT),
                tuple(draw(st.lists(URLS, max_size=2))),
                draw(st.sampled_from(get_args(Lang))),
                chosen,
            )
        )
    start = draw(st.integers(0, 23))
    rules = tuple(
        AlertRule(
            draw(WORD),
            draw(st.none() | st.sampled_from([a.id for a in assets] or [None])),
            draw(st.none() | st.sampled_from(list(Level))),
            draw(SECONDS),
            draw(SECONDS),
        )
        for _ in range(draw(st.integers(0, 2)))
    )
    policy = AlertPolicy(
        rules,
        draw(st.integers(1, 99)),
        draw(POSITIVE),
        draw(st.integers(1, 99)),
        draw(POSITIVE),
        draw(POSITIVE),
        draw(POSITIVE),
        draw(POSITIVE),
    )
    groups = []
    for g in unique(draw(st.lists(IDS, max_size=2))):
        platform = draw(st.sampled_from(get_args(Platform)))
        secret = draw(WORD) if platform in ("dingtalk", "feishu") else draw(TEXT)
        groups.append(
            ChatGroup(
                g,
                draw(st.sampled_from(bids)),
                draw(TEXT),
                platform,
                secret,
                draw(TEXT),
                draw(TEXT),
                draw(st.none() | person),
            )
        )
    lexicon = draw(
        st.dictionaries(
            st.sampled_from(["elevator", "pump", "complaint"]),
            st.lists(WORD, min_size=1, max_size=2).map(tuple),
            max_size=2,
        )
    )
    chat = ChatPolicy(
        tuple(groups),
        draw(st.integers(1, 50)),
        draw(POSITIVE),
        draw(POSITIVE),
        draw(st.integers(1, 50)),
        draw(st.integers(1, 9)),
        draw(POSITIVE),
        draw(POSITIVE),
        draw(st.none() | person),
        lexicon,
    )
    return Site(
        id=draw(IDS),
        name=draw(TEXT),
        timezone=draw(st.sampled_from(["UTC", "Asia/Shanghai", "Europe/Berlin"])),
        buildings=buildings,
        assets=assets,
        people=people,
        owners=tuple(owners),
        on_call=tuple(draw(st.lists(person, max_size=3))),
        alerts=policy,
        rota=tuple(
            RotaEntry(
                draw(person),
                draw(person),
                draw(st.none() | st.sampled_from(bids)),
                draw(st.none() | st.sampled_from(MACHINE_KINDS)),
            )
            for _ in range(draw(st.integers(0, 2)))
        ),
        fallback=draw(st.none() | person),
        day_hours=(start, draw(st.integers(start + 1, 24))),
        service_name=draw(TEXT),
        service_phone=draw(TEXT),
        chat=chat,
    )


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def site_data(site: Site) -> dict[str, Any]:
    """The tables of a site file that describes ``site`` (the writer the property checks the reader against)."""
    return {
        "site": {
            "id": site.id,
            "name": site.name,
            "timezone": site.timezone,
            "service_name": site.service_name,
            "service_phone": site.service_phone,
        },
        "buildings": [{"id": b.id, "name": b.name} for b in site.buildings],
        "assets": [
            drop_none(
                {
                    "id": a.id,
                    "kind": a.kind.value,
                    "building": a.building,
                    "name": a.name,
                    "interval_s": a.interval_s,
                    "rated": dict(a.rated),
                    "checkin_code": a.checkin_code,
                    "profile": a.profile,
                }
            )
            for a in site.assets
        ],
        "people": [
            {"id": p.id, "name": p.name, "role": p.role, "notify": list(p.notify), "lang": p.lang}
            for p in site.people
        ],
        "owners": [
            {
                "building": o.building,
                "name": o.name,
                "notify": list(o.notify),
                "lang": o.lang,
                "assets": list(o.assets),
            }
            for o in site.owners
        ],
        "escalation": drop_none(
            {
                "chain": list(site.on_call),
                "fallback": site.fallback,
                "day_start": f"{site.day_hours[0]:02d}:00",
                "day_end": f"{site.day_hours[1]:02d}:00",
            }
        ),
        "rota": [
            drop_none(
                {
                    "day": r.day,
                    "night": r.night,
                    "building": r.building,
                    "asset_kind": None if r.asset_kind is None else r.asset_kind.value,
                }
            )
            for r in site.rota
        ],
        "alerts": {
            "rules": [
                drop_none(
                    {
                        "kind": r.kind,
                        "asset": r.asset,
                        "level": None if r.level is None else r.level.value,
                        "pending_s": r.pending_s,
                        "hold_s": r.hold_s,
                    }
                )
                for r in site.alerts.rules
            ],
            **{
                k: getattr(site.alerts, k)
                for k in (
                    "flap_cycles",
                    "flap_window_s",
                    "recurrence_count",
                    "recurrence_window_days",
                    "recurrence_deadline_h",
                    "lateness_s",
                    "close_hold_s",
                )
            },
        },
        "chat": drop_none(
            {
                **{
                    k: getattr(site.chat, k)
                    for k in (
                        "steward_keywords",
                        "window_s",
                        "mood_s",
                        "mood_min_messages",
                        "crisis_groups",
                        "silent_s",
                        "keep_days",
                        "manager",
                    )
                },
                "groups": [
                    drop_none(
                        {
                            "id": g.id,
                            "building": g.building,
                            "name": g.name,
                            "platform": g.platform,
                            "secret": g.secret,
                            "encrypt_key": g.encrypt_key,
                            "conversation": g.conversation,
                            "steward": g.steward,
                        }
                    )
                    for g in site.chat.groups
                ],
                "lexicon": {k: list(v) for k, v in site.chat.lexicon.items()},
            }
        ),
    }


def toml(data: dict[str, Any]) -> str:
    """TOML of plain values, every table inline (enough for the property; no writer is installed)."""

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        assert isinstance(v, dict)
        return (
            "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {value(x)}" for k, x in v.items()) + "}"
        )

    return "".join(f"{k} = {value(v)}\n" for k, v in data.items())


@settings(
    max_examples=40,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # no shrinking: a failure is reported at once
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(site=sites())
def test_every_valid_site_round_trips(tmp_path: Path, site: Site) -> None:
    path = tmp_path / "site.toml"
    path.write_text(toml(site_data(site)), encoding="utf-8")
    assert load_site(path, {}) == site
