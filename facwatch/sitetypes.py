"""The field types of site files: ids, references, placeholders, apprise URLs, time zones (facwatch/sitefile.py).

Each type is an ``Annotated`` alias that carries its description (for error messages and the JSON Schema) and
its check. Checks that need more than the value read the validation context that ``sitefile.validate`` hands
pydantic (a ``Known``): the ids the file defines (so a reference to a building, person or asset that does not
exist is an error at the key that makes it) and the ``{placeholders}`` of notification URLs.
Without a context (a schema being generated, a model built in a test) references are not checked.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

_T = TypeVar("_T")

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MIN_CHECKIN_CODE = 8
"""Characters a check-in code has at least: with 5 tries per 10 minutes, it cannot be guessed."""
OWN_SCHEMES = ("console", "jsonl")
"""Notification schemes facwatch registers with apprise itself (alerts/notify/channels.py)."""


class Section(BaseModel):
    """The base of every table of a site file: unknown keys are errors, TOML types are taken as written
    (``"5"`` is not a number), and a validated table cannot change."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


@dataclass(frozen=True, slots=True)
class Known:
    """What the whole file defines, gathered before validation, so that each reference is checked where it is."""

    buildings: frozenset[str] = frozenset()
    people: frozenset[str] = frozenset()
    assets: Mapping[str, str] = field(default_factory=dict)
    """Asset id -> its building."""
    variables: Mapping[str, str] = field(default_factory=dict)
    """What ``{placeholders}`` of notification URLs and chat secrets are replaced by (``data_dir``)."""


def known_of(info: ValidationInfo) -> Known | None:
    context = info.context
    return context if isinstance(context, Known) else None


def _nearest(value: str, choices: Iterable[str]) -> str:
    names = sorted(choices)
    close = difflib.get_close_matches(value, names, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known: {', '.join(names)}" if names and len(names) <= 12 else ""


def _reference(what: str, ids: Callable[[Known], Collection[str]]) -> AfterValidator:
    def check(value: str, info: ValidationInfo) -> str:
        known = known_of(info)
        if known is not None and value not in ids(known):
            raise ValueError(f"no {what} {value!r} in this file{_nearest(value, ids(known))}")
        return value

    return AfterValidator(check)


Id = Annotated[
    str,
    Field(pattern=ID_PATTERN, description="an id: 1 to 64 letters, digits, '_' or '-'"),
]
BuildingRef = Annotated[
    Id, _reference("building", lambda k: k.buildings), Field(description="a building id of this file")
]
PersonRef = Annotated[
    Id, _reference("person", lambda k: k.people), Field(description="a person id of this file")
]
AssetRef = Annotated[
    Id, _reference("asset", lambda k: k.assets.keys()), Field(description="an asset id of this file")
]


def _fill(value: str, info: ValidationInfo) -> str:
    known = known_of(info)
    if known is None:
        return value
    try:
        return value.format(**known.variables)
    except (KeyError, IndexError) as exc:
        names = ", ".join("{" + k + "}" for k in sorted(known.variables)) or "none"
        raise ValueError(f"unknown placeholder {{{exc.args[0]}}} (known: {names})") from None
    except ValueError as exc:
        raise ValueError(f"a lone '{{' or '}}' ({exc}); write '{{{{' for a literal brace") from None


Template = Annotated[
    str,
    AfterValidator(_fill),
    Field(description="text in which {data_dir} is replaced by the data directory"),
]


@cache
def apprise_problem(url: str) -> str | None:
    """Why apprise cannot use ``url`` (parsed by apprise itself, nothing sent), or None when it can."""
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in OWN_SCHEMES:
        rest = url.split("://", 1)[1]
        return (
            "jsonl:// needs a file path, e.g. jsonl:///var/lib/facwatch/n.jsonl"
            if scheme == "jsonl" and not rest
            else None
        )
    if not scheme:
        return "not a URL: expected scheme://... (e.g. wecombot://KEY, mailtos://user:pass@host?to=addr)"
    import apprise

    capture = apprise.LogCapture(level=apprise.logging.WARNING, fmt="%(levelname)s %(message)s")  # type: ignore[no-untyped-call]
    with capture as captured:
        usable = apprise.Apprise().add(url)
    if usable:
        return None
    lines = captured.getvalue().splitlines()
    warned = [line.split(" ", 1)[1] for line in lines if line.startswith("WARNING ")]
    if warned:
        return f"apprise cannot use this {scheme}:// URL: {warned[0]}"
    if any(line.startswith(("ERROR Unsupported", "ERROR Unparseable")) for line in lines):
        return f"apprise knows no {scheme}:// service (see docs/notifications.md for the schemes)"
    return f"apprise cannot use this {scheme}:// URL"


def _apprise(value: str, info: ValidationInfo) -> str:
    if known_of(info) is None or "{" in value:
        return value  # unfilled placeholders: checked once the variables are known
    problem = apprise_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


NotifyUrl = Annotated[
    Template,
    AfterValidator(_apprise),
    Field(
        description="an apprise URL (wecombot://KEY, dingtalk://TOKEN/SECRET, mailtos://..., json://...) or "
        "facwatch's console:// and jsonl:///path",
        examples=["wecombot://BOTKEY"],
    ),
]


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}{_nearest(value, _zones())}") from None
    return value


TimeZone = Annotated[
    str,
    AfterValidator(_zone),
    Field(description='an IANA time zone such as "Asia/Shanghai"', examples=["Asia/Shanghai"]),
]

Lang = Literal["zh", "en", "zh+en", "en+zh"]
"""Languages of notifications (alerts/notify/templates/<lang>/); ``zh+en`` sends both in one message."""


def _code(value: str) -> str:
    value = value.strip()
    if len(value) < MIN_CHECKIN_CODE:
        raise ValueError(
            f"too short ({len(value)} characters): at least {MIN_CHECKIN_CODE} random characters, "
            "so that it cannot be guessed"
        )
    return value


CheckinCode = Annotated[
    str,
    AfterValidator(_code),
    Field(
        json_schema_extra={"minLength": MIN_CHECKIN_CODE},
        description=f"the code posted at the asset ({MIN_CHECKIN_CODE}+ random characters): an engineer's "
        "check-in must carry it to prove arrival",
    ),
]


def _hour(value: str) -> str:
    match = re.fullmatch(r"(\d{1,2}):00", value)
    if match is None or not 0 <= int(match.group(1)) <= 24:
        raise ValueError(f'expected a whole hour like "08:00", got {value!r}')
    return value


Hour = Annotated[str, AfterValidator(_hour), Field(description='a whole hour of the site\'s day, "08:00"')]


def hour_of(value: str) -> int:
    return int(value.split(":", 1)[0])


def unique_ids(what: str) -> AfterValidator:
    """A list of entries (or ids) in which no id appears twice."""

    def check(items: list[_T]) -> list[_T]:
        seen: set[str] = set()
        for item in items:
            ident = item if isinstance(item, str) else getattr(item, "id", None)
            if isinstance(ident, str):
                if ident in seen:
                    raise ValueError(f"{what} id {ident!r} appears twice; ids must be unique")
                seen.add(ident)
        return items

    return AfterValidator(check)
