"""Pydantic's validation errors in an operator's words: the file, the key path, what was expected.

``problems(exc, root, origin, data, text=...)`` turns every error of a ``ValidationError`` into one line::

    site.toml:40: assets[3].checkin_code (pump-9): missing; expected the code posted at the asset (8+ ...)
    site.toml:12: assets[0].checkin_cod (b1-elev-1): unknown key; did you mean 'checkin_code'? (expected ...)
    facwatch.toml:14: mqtt.pasword: unknown key; did you mean 'password'? (expected one of: url, client_id, ...)
    environment FACWATCH_API__PORT: expected a valid integer, got 'abc'

The line comes from a plain reading of the TOML text (``locate``): the key's own line, else its table's or
array entry's; a file parsed from a dict alone has no line numbers.

The expectation comes from the model itself (the field's description, the keys a table knows), so that what
an error says and what the JSON Schema says cannot drift apart. Used for settings and site files alike.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

_SECRET_WORDS = ("secret", "code", "password", "token", "key", "notify", "url")
"""Keys whose values are not repeated in an error (they may be credentials)."""


def problems(
    exc: ValidationError,
    root: type[BaseModel],
    origin: str,
    data: Mapping[str, object] | None = None,
    env_prefix: str | None = None,
    text: str | None = None,
) -> tuple[str, ...]:
    """One line per error, in the order of the file's keys. With ``env_prefix``, a key that is not in ``data``
    came from the environment and is named as its variable (``FACWATCH_MQTT__PASWORD``)."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        if env_prefix is not None and loc and not _present(data, loc):
            variable = env_prefix + "__".join(str(step) for step in loc).upper()
            lines.append(f"environment {variable}: {_message(error, root, loc)}")
        else:
            line = None if text is None else locate(text, loc)
            lines.append(_line(error, root, origin if line is None else f"{origin}:{line}", data))
    return tuple(lines)


def _present(data: Mapping[str, object] | None, loc: tuple[str | int, ...]) -> bool:
    node: object = data
    for step in loc:
        if isinstance(node, Mapping) and isinstance(step, str) and step in node:
            node = node[step]
            continue
        if not (isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)):
            return False
        node = node[step]
    return True


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\- \"']+?)\s*\]\]?\s*(#.*)?$")


def locate(text: str, loc: Sequence[str | int]) -> int | None:
    """The line (1-based) of the TOML text that ``loc`` points at, as near as a plain reading finds it: the
    key's own line, else the line of the table or ``[[array]]`` entry it belongs to, else None."""
    lines = text.splitlines()
    headers = []  # (index, name, is an array entry)
    for i, line in enumerate(lines):
        match = _HEADER.match(line)
        if match:
            name = ".".join(part.strip().strip("\"'") for part in match.group(2).split("."))
            headers.append((i, name, match.group(1) == "[["))
    found: int | None = None
    start, end, prefix = 0, headers[0][0] if headers else len(lines), ""
    steps = list(loc)
    k = 0
    while k < len(steps):
        step = steps[k]
        if not isinstance(step, str):
            break
        name = f"{prefix}{step}"
        nxt = steps[k + 1] if k + 1 < len(steps) else None
        entries = [h for h in headers if h[1] == name and h[2]]
        table = [h for h in headers if h[1] == name and not h[2]]
        if isinstance(nxt, int) and entries:
            if nxt >= len(entries):
                break
            start = entries[nxt][0]
            k += 2
        elif table or entries:  # a table, or an array of tables as a whole: its first line
            start = (table or entries)[0][0]
            k += 1
        else:
            key = re.compile(rf"^\s*[\"']?{re.escape(step)}[\"']?\s*=")
            hit = next((i for i in range(start, end) if key.match(lines[i])), None)
            return found if hit is None else hit + 1
        found = start + 1
        end = next((h[0] for h in headers if h[0] > start), len(lines))
        prefix = f"{name}."
    return found


def key_path(loc: Sequence[str | int]) -> str:
    """``("assets", 3, "checkin_code")`` -> ``assets[3].checkin_code``."""
    out = ""
    for step in loc:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def _line(error: ErrorDetails, root: type[BaseModel], origin: str, data: Mapping[str, object] | None) -> str:
    loc = tuple(error["loc"])
    where = key_path(loc)
    entry = _entry_id(data, loc)
    if entry:
        where += f" ({entry})"
    head = f"{origin}: {where}" if where else origin
    return f"{head}: {_message(error, root, loc)}"


def _message(error: ErrorDetails, root: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    kind, given = error["type"], error.get("input")
    if kind == "extra_forbidden":
        parent = _model_at(root, loc[:-1])
        keys = list(parent.model_fields) if parent is not None else []
        close = difflib.get_close_matches(str(loc[-1]), keys, n=1, cutoff=0.6)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key{guess} (expected one of: {', '.join(keys)})" if keys else "unknown key"
    info = _field_at(root, loc)
    expected = info.description if info is not None and info.description else None
    if kind == "missing":
        return f"missing; expected {expected}" if expected else "missing (required)"
    if kind == "list_type" and isinstance(given, dict):
        name = key_path(loc)
        return f"expected an array, got a table: write each entry as [[{name}]], not one [{name}] table"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a table, got {_describe(given, loc)}"
    bounds = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}
    if kind in bounds:
        words = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}[bounds[kind]]
        limit = error.get("ctx", {}).get(bounds[kind])
        return f"expected a number {words} {limit}, got {_describe(given, loc)}" + (
            f" ({expected})" if expected else ""
        )
    if kind == "string_pattern_mismatch" and expected:
        return f"expected {expected}, got {_describe(given, loc)}"
    if kind in ("string_too_short", "too_short"):
        return f"too short: at least {error.get('ctx', {}).get('min_length')} characters"
    message = (
        error["msg"].removeprefix("Value error, ").replace("Input should be", "expected").split(", unable")[0]
    )
    if kind != "value_error":
        message += f", got {_describe(given, loc)}"
        if expected:
            message += f" ({expected})"
    return message


def _describe(value: object, loc: tuple[str | int, ...]) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "true" if value else "false"
    secret = any(word in str(step).lower() for step in loc for word in _SECRET_WORDS)
    if isinstance(value, str):
        return "a string" if secret else (repr(value) if len(value) <= 60 else repr(value[:57] + "..."))
    if isinstance(value, int | float):
        return "a number" if secret else str(value)
    return type(value).__name__


def _entry_id(data: Mapping[str, object] | None, loc: tuple[str | int, ...]) -> str | None:
    """The ``id`` of the innermost array entry the error is in (``pump-9``), to find it in the file."""
    found: str | None = None
    node: object = data
    for step in loc[:-1]:
        if isinstance(step, int) and isinstance(node, list) and 0 <= step < len(node):
            node = node[step]
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                found = node["id"]
        elif isinstance(step, str) and isinstance(node, dict):
            node = node.get(step)
        else:
            break
    return found


def _unwrap(annotation: object) -> object:
    """``Annotated[X, ...]`` and ``X | None`` -> ``X``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _walk(root: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[object, FieldInfo | None]:
    """The type at ``loc`` inside ``root`` and the field that declares it (None past a list or table)."""
    current: object = root
    info: FieldInfo | None = None
    for step in loc:
        current = _unwrap(current)
        origin = get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(step, str):
            info = current.model_fields.get(step)
            if info is None:
                return None, None
            current = info.annotation
        elif origin in (list, tuple, set, frozenset) and isinstance(step, int):
            current, info = get_args(current)[0], None
        elif origin is dict and isinstance(step, str):
            current, info = get_args(current)[1], None
        else:
            return None, None
    return _unwrap(current), info


def _model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    found, _ = _walk(root, loc)
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


def _field_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> FieldInfo | None:
    return _walk(root, loc)[1] if loc else None
