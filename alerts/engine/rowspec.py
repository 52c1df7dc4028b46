"""Rows to domain values from one column spec: the SELECT's columns and the function that maps its rows.

A spec is a tuple of ``Read``: which column fills which field of the value (``outer.inner`` for a field of a
nested value, such as a ticket's ``deadlines.acknowledge``), and how a stored value becomes the field's. The
query selects ``RowSpec.columns`` in the spec's order, and ``RowSpec.mapper`` is a function written from the
same spec that unpacks a row once and builds the value: a page maps up to 1,000 rows, and unpacking costs a
third of reading fields by name or looping over the spec, so positions are used, but only positions generated
here, never kept by hand. Building a spec checks that it fills every field of the value exactly once (with the
fields the caller passes in, ``given``), so a column added to the value and forgotten in the spec fails at
import, not in a user's page.
"""

from __future__ import annotations

import dataclasses
import keyword
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Read:
    """One column and the field it fills; ``convert`` turns the stored value into the field's (None: as
    stored); with ``none_is_none`` a stored NULL is None without calling ``convert``."""

    column: ColumnElement[Any]
    field: str
    convert: Callable[[Any], Any] | None = None
    none_is_none: bool = False


class SpecError(ValueError):
    """A spec that does not fill its value's fields exactly once (a programming error, raised at import)."""


@dataclass(frozen=True, slots=True)
class RowSpec(Generic[T]):
    """``reads`` fill a ``target`` (a dataclass); ``nested`` names the dataclass of each ``outer.`` prefix;
    ``given`` are the target's fields the mapper takes as arguments, in this order, after the row."""

    target: type[T]
    reads: tuple[Read, ...]
    nested: Mapping[str, type[Any]] = dataclasses.field(default_factory=dict)
    given: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check(self)

    @property
    def columns(self) -> tuple[ColumnElement[Any], ...]:
        """The query's columns, in the order the mapper unpacks them."""
        return tuple(read.column for read in self.reads)

    def position(self, field: str) -> int:
        """Where ``field``'s column is in a row of ``columns``."""
        return next(i for i, read in enumerate(self.reads) if read.field == field)

    def mapper(self) -> Callable[..., T]:
        """``mapper(row, *given)``: the value from a row whose first columns are ``columns``."""
        namespace: dict[str, Any] = {"_target": self.target}
        namespace.update({f"_nested_{name}": cls for name, cls in self.nested.items()})
        namespace.update({f"_convert{i}": r.convert for i, r in enumerate(self.reads) if r.convert})
        exec(compile(source(self), f"<RowSpec {self.target.__name__}>", "exec"), namespace)
        function: Callable[..., T] = namespace["mapper"]
        return function


def source(spec: RowSpec[Any]) -> str:
    """The mapper's source, written from ``spec`` (shown by the tests and useful when reading a traceback)."""
    names = [f"c{i}" for i in range(len(spec.reads))]

    def value(i: int, read: Read) -> str:
        if read.convert is None:
            return names[i]
        call = f"_convert{i}({names[i]})"
        return f"None if {names[i]} is None else {call}" if read.none_is_none else call

    plain = [f"{r.field}={value(i, r)}" for i, r in enumerate(spec.reads) if "." not in r.field]
    for outer in spec.nested:
        inner = [
            f"{r.field.split('.', 1)[1]}={value(i, r)}"
            for i, r in enumerate(spec.reads)
            if r.field.startswith(f"{outer}.")
        ]
        plain.append(f"{outer}=_nested_{outer}({', '.join(inner)})")
    plain += [f"{name}={name}" for name in spec.given]
    args = "".join(f", {name}" for name in spec.given)
    return (
        f"def mapper(row{args}):\n"
        f"    {', '.join(names)}, = row[:{len(names)}]\n"
        f"    return _target({', '.join(plain)})\n"
    )


def _fields(cls: type[Any]) -> list[str]:
    if not dataclasses.is_dataclass(cls):
        raise SpecError(f"{cls.__name__} is not a dataclass")
    return [f.name for f in dataclasses.fields(cls)]


def _check(spec: RowSpec[Any]) -> None:
    filled = [r.field for r in spec.reads] + list(spec.given)
    expected = [f for f in _fields(spec.target) if f not in spec.nested]
    for outer, cls in spec.nested.items():
        expected += [f"{outer}.{name}" for name in _fields(cls)]
    twice = sorted({f for f in filled if filled.count(f) > 1})
    missing = sorted(set(expected) - set(filled))
    unknown = sorted(set(filled) - set(expected))
    if twice or missing or unknown:
        raise SpecError(
            f"the spec of {spec.target.__name__} must fill each field once: "
            f"twice {twice}, missing {missing}, unknown {unknown}"
        )
    if not all(part.isidentifier() and not keyword.iskeyword(part) for f in filled for part in f.split(".")):
        raise SpecError(f"the spec of {spec.target.__name__} names a field that is not an identifier")
