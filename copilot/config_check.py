"""Checking a configuration layer key by key, so every problem is found at once.

msgspec stops at the first error, so each key is converted on its own against its table's
Struct (whose fields carry their ranges: ``Annotated[int, msgspec.Meta(ge=0)]``). A valid
key applies; a bad one keeps the value the layers before it gave and becomes a
:class:`Problem` saying where it is (source, dotted key, line in a TOML file), what was
expected, and for an unknown key which one was probably meant.

Generic over the Structs: ``copilot.config`` owns the keys and the rules across tables.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

import msgspec
from msgspec import inspect

S = TypeVar("S", bound=msgspec.Struct)


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    source: str  # the TOML file's path, "initializationOptions" or "didChangeConfiguration"
    key: str = ""  # dotted, e.g. "completion.max_tokens"; "" for the whole layer or file
    line: int = 0  # 1-based line in the TOML file; 0: not from a file, or not found
    value: str = ""  # the value given, as JSON text ("" for unknown keys and tables)
    message: str  # what is wrong, and what applies instead
    expected: str = ""  # the type and range a valid value has
    suggestion: str = ""  # for an unknown key: the dotted key probably meant

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        key = f"{self.key} = {self.value}" if self.value else self.key
        return f"{where}: {key}: {self.message}" if key else f"{where}: {self.message}"


def apply_tables(
    base: S, layer: Mapping[str, Any], source: str, lines: Mapping[str, int]
) -> tuple[S, list[Problem], set[str]]:
    """``base`` with each valid key of ``layer`` applied; the problems with the rest; and the
    dotted keys that applied (for checks across tables)."""
    problems: list[Problem] = []
    applied: set[str] = set()
    tables = _fields(type(base))
    updates: dict[str, Any] = {}
    for name, values in layer.items():
        field = tables.get(name)
        if field is None:
            problems.append(_unknown(type(base), None, str(name), source, lines, isinstance(values, Mapping)))
            continue
        if not isinstance(values, Mapping):
            problems.append(
                Problem(
                    source=source,
                    key=name,
                    line=line_of(lines, name),
                    value=show(values),
                    message=f"expected a table of settings ([{name}]); ignored",
                    expected="a table",
                )
            )
            continue
        assert isinstance(field.type, inspect.StructType)
        table_cls = field.type.cls
        current = updates.get(name, getattr(base, name))
        for key, value in values.items():
            dotted = f"{name}.{key}"
            leaf = _fields(table_cls).get(key)
            if leaf is None:
                problems.append(_unknown(type(base), name, str(key), source, lines))
                continue
            if isinstance(leaf.type, inspect.DictType) and isinstance(value, Mapping):
                value = {**getattr(current, key), **value}  # tables of tables merge, as TOML reads them
            try:
                converted = msgspec.convert({key: value}, table_cls)
            except msgspec.ValidationError:
                expected = describe(leaf.type)
                problems.append(
                    Problem(
                        source=source,
                        key=dotted,
                        line=line_of(lines, dotted),
                        value=show(value),
                        message=f"expected {expected}; keeping {show(getattr(current, key))}",
                        expected=expected,
                    )
                )
                continue
            current = msgspec.structs.replace(current, **{key: getattr(converted, key)})
            applied.add(dotted)
        updates[name] = current
    return msgspec.structs.replace(base, **updates), problems, applied


@cache
def _fields(cls: type[msgspec.Struct]) -> dict[str, inspect.Field]:
    info = inspect.type_info(cls)
    assert isinstance(info, inspect.StructType)
    return {field.name: field for field in info.fields}


def _unknown(
    root: type[msgspec.Struct],
    table: str | None,
    key: str,
    source: str,
    lines: Mapping[str, int],
    is_table: bool = False,
) -> Problem:
    """An unknown key of ``table``, or at the top (``table`` None), with the one probably meant."""
    dotted = f"{table}.{key}" if table else key
    suggestion = suggest(root, table, key)
    what = "table" if is_table else "key"
    if suggestion:
        hint = f"did you mean {suggestion if '.' in suggestion else f'[{suggestion}]'}?"
    elif table:
        hint = f"[{table}] has: " + ", ".join(_fields(_table_cls(root, table)))
    else:
        hint = "the tables are: " + ", ".join(_fields(root))
    return Problem(
        source=source,
        key=dotted,
        line=line_of(lines, dotted),
        message=f"unknown {what}, ignored; {hint}",
        suggestion=suggestion,
    )


def _table_cls(root: type[msgspec.Struct], table: str) -> type[msgspec.Struct]:
    field_type = _fields(root)[table].type
    assert isinstance(field_type, inspect.StructType)
    return field_type.cls


def suggest(root: type[msgspec.Struct], table: str | None, key: str) -> str:
    """The dotted key probably meant by ``key`` (in ``table``, or at the top when None): a
    close spelling in the same table, else the same name in another table, else a close
    spelling anywhere; "" when nothing is close."""
    tables = {name: list(_fields(_table_cls(root, name))) for name in _fields(root)}
    if table is None:
        close = difflib.get_close_matches(key, list(tables), n=1)
        if close:
            return close[0]
    else:
        close = difflib.get_close_matches(key, tables[table], n=1)
        if close:
            return f"{table}.{close[0]}"
    owners = [name for name, keys in tables.items() if key in keys and name != table]
    if owners:
        return f"{owners[0]}.{key}"
    everywhere = {f"{name}.{leaf}": leaf for name, keys in tables.items() for leaf in keys}
    close = difflib.get_close_matches(key, list(everywhere.values()), n=1, cutoff=0.8)
    return next((dotted for dotted, leaf in everywhere.items() if close and leaf == close[0]), "")


def describe(field_type: inspect.Type) -> str:
    """What a value of ``field_type`` looks like, with its range: "an integer >= 0"."""
    bounds = range_text(field_type)
    if isinstance(field_type, inspect.IntType):
        return f"an integer {bounds}".rstrip()
    if isinstance(field_type, inspect.FloatType):
        return f"a number {bounds}".rstrip()
    if isinstance(field_type, inspect.BoolType):
        return "true or false"
    if isinstance(field_type, inspect.StrType):
        return "a string"
    if isinstance(field_type, inspect.LiteralType):
        return "one of " + ", ".join(show(value) for value in field_type.values)
    if isinstance(field_type, inspect.ListType):
        return "a list of " + describe(field_type.item_type).removeprefix("a ") + "s"
    if isinstance(field_type, inspect.DictType):
        return "a table of " + describe(field_type.value_type).removeprefix("a ") + "s"
    return "a value of another type"


def range_text(field_type: inspect.Type) -> str:
    """The range of a number type: ">= 0", "from 0 to 1"; "" for none (or not a number)."""
    if not isinstance(field_type, (inspect.IntType, inspect.FloatType)):
        return ""
    ge, gt, le, lt = field_type.ge, field_type.gt, field_type.le, field_type.lt
    if ge is not None and le is not None:
        return f"from {ge:g} to {le:g}"
    low = f">= {ge:g}" if ge is not None else f"> {gt:g}" if gt is not None else ""
    high = f"<= {le:g}" if le is not None else f"< {lt:g}" if lt is not None else ""
    return " and ".join(bound for bound in (low, high) if bound)


def show(value: object) -> str:
    """``value`` as the user wrote it (JSON text), cut short when long."""
    try:
        text = msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def line_of(lines: Mapping[str, int], dotted: str) -> int:
    """The line of ``dotted``, or of the nearest table above it (an inline table); 0: none."""
    parts = dotted.split(".")
    while parts:
        line = lines.get(".".join(parts))
        if line:
            return line
        parts.pop()
    return 0


_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"\s*({_DOTTED})\s*=")


def key_lines(text: str) -> dict[str, int]:
    """Where each table and key of a TOML text is first written (tomllib keeps no
    positions): ``{"completion": 3, "completion.max_tokens": 4}``. Best effort: it follows
    [table] headers and ``key =`` lines, and skips the insides of multi-line strings."""
    lines: dict[str, int] = {}
    table: list[str] = []
    open_string = ""  # the delimiter of a multi-line string still open
    for number, line in enumerate(text.splitlines(), 1):
        if open_string:
            if line.count(open_string) % 2:
                open_string = ""
            continue
        if header := _HEADER.match(line):
            table = _split(header.group(1))
            lines.setdefault(".".join(table), number)
        elif assign := _ASSIGN.match(line):
            lines.setdefault(".".join([*table, *_split(assign.group(1))]), number)
            rest = line[assign.end() :]
            open_string = next((d for d in ('"""', "'''") if rest.count(d) % 2), "")
    return lines


def _split(dotted: str) -> list[str]:
    return [part.strip("\"'") for part in re.findall(_PART, dotted)]
