"""Scopes, imports and definitions from the syntax tree, language by language. Documents mark the cursor with █."""

import time
from typing import NamedTuple

import pytest

from copilot.syntax import extract
from copilot.syntax.tree import SyntaxTree


class Case(NamedTuple):
    language_id: str
    document: str
    scopes: list[tuple[str, str, str]]  # (kind, name, header) around █, outermost first
    imports: list[str]
    definitions: list[tuple[str, str]]  # (kind, name) in source order


def parse(language_id: str, document: str) -> tuple[SyntaxTree, int]:
    """The tree of ``document`` without its █, and the cursor's byte offset."""
    offset = document.index("█")
    syntax = SyntaxTree.create(language_id, document.replace("█", "", 1))
    assert syntax is not None
    return syntax, syntax.byte_offset(offset)


PYTHON = '''\
import os
from typing import Any

@dataclass
class Point:
    """A point."""

    def dist(self, other: "Point") -> float:
        total = 0.0
        █return total

async def main(argv: list[str]) -> int:
    def helper():
        pass
    return 0
'''

JAVASCRIPT = """\
import fs from "fs";
import { join } from "path";

export class Shape {
  constructor(name) { this.name = name; }
  area(scale) {
    return █0;
  }
}

const add = (a, b) => a + b;
function* ids() { yield 1; }
"""

TYPESCRIPT = """\
import { A } from "./a";
import type { B } from "./b";

export interface Shape { area(): number; }
type Id = string;
enum Color { Red }
namespace Geometry {
  export abstract class Base {
    abstract name(): string;
    scale(by: number): number {
      return █by;
    }
  }
}
"""

TSX = """\
import React from "react";

export function App(props: { title: string }) {
  const onClick = () => {
    console.log(█props.title);
  };
  return <button onClick={onClick}>{props.title}</button>;
}
"""

GO = """\
package geometry

import (
\t"fmt"
\t"math"
)

type Point struct {
\tX, Y float64
}

type Shape interface {
\tArea() float64
}

func (p *Point) Dist(q Point) float64 {
\treturn math.Hypot(█p.X-q.X, p.Y-q.Y)
}

func main() { fmt.Println("hi") }
"""

RUST = """\
use std::fmt;
use std::collections::HashMap;

struct Point { x: f64, y: f64 }

trait Area { fn area(&self) -> f64; }

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "({}, {})", █self.x, self.y)
    }
}

mod tests { fn helper() {} }
"""

JAVA = """\
package geo;

import java.util.List;
import java.util.Map;

public class Shapes {
    private final List<String> names;

    public Shapes(List<String> names) { this.names = names; }

    @Override
    public int count(int limit) {
        return █names.size();
    }

    interface Visitor { void visit(); }
}
"""

C = """\
#include <stdio.h>
#include "point.h"

struct point { int x; int y; };
typedef struct { int w; } size;

int *make(int n);

static int area(struct point *p, int scale) {
    return █p->x * p->y * scale;
}
"""

CPP = """\
#include <vector>
#include <string>

namespace geo {
class Shape {
 public:
  virtual ~Shape();
  int area(int scale) const {
    return █scale;
  }
};
}

template <typename T> T biggest(std::vector<T> items) { return items[0]; }
"""

CASES = [
    Case(
        "python",
        PYTHON,
        [
            ("class", "Point", "@dataclass\nclass Point:"),
            ("method", "dist", 'def dist(self, other: "Point") -> float:'),
        ],
        ["import os", "from typing import Any"],
        [("class", "Point"), ("method", "dist"), ("function", "main"), ("function", "helper")],
    ),
    Case(
        "javascript",
        JAVASCRIPT,
        [("class", "Shape", "export class Shape"), ("method", "area", "area(scale)")],
        ['import fs from "fs";', 'import { join } from "path";'],
        [("class", "Shape"), ("method", "constructor"), ("method", "area"), ("function", "add"), ("function", "ids")],
    ),
    Case(
        "javascriptreact",
        JAVASCRIPT,
        [("class", "Shape", "export class Shape"), ("method", "area", "area(scale)")],
        ['import fs from "fs";', 'import { join } from "path";'],
        [("class", "Shape"), ("method", "constructor"), ("method", "area"), ("function", "add"), ("function", "ids")],
    ),
    Case(
        "typescript",
        TYPESCRIPT,
        [
            ("namespace", "Geometry", "namespace Geometry"),
            ("class", "Base", "export abstract class Base"),
            ("method", "scale", "scale(by: number): number"),
        ],
        ['import { A } from "./a";', 'import type { B } from "./b";'],
        [
            ("interface", "Shape"),
            ("method", "area"),
            ("type", "Id"),
            ("enum", "Color"),
            ("namespace", "Geometry"),
            ("class", "Base"),
            ("method", "name"),
            ("method", "scale"),
        ],
    ),
    Case(
        "typescriptreact",
        TSX,
        [
            ("function", "App", "export function App(props: { title: string })"),
            ("function", "onClick", "const onClick = () =>"),
        ],
        ['import React from "react";'],
        [("function", "App"), ("function", "onClick")],
    ),
    Case(
        "go",
        GO,
        [("method", "Dist", "func (p *Point) Dist(q Point) float64")],
        ['import (\n\t"fmt"\n\t"math"\n)'],
        [("struct", "Point"), ("interface", "Shape"), ("method", "Dist"), ("function", "main")],
    ),
    Case(
        "rust",
        RUST,
        [
            ("impl", "Point", "impl fmt::Display for Point"),
            ("method", "fmt", "fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result"),
        ],
        ["use std::fmt;", "use std::collections::HashMap;"],
        [
            ("struct", "Point"),
            ("trait", "Area"),
            ("method", "area"),
            ("impl", "Point"),
            ("method", "fmt"),
            ("module", "tests"),
            ("function", "helper"),
        ],
    ),
    Case(
        "java",
        JAVA,
        [("class", "Shapes", "public class Shapes"), ("method", "count", "@Override\n    public int count(int limit)")],
        ["import java.util.List;", "import java.util.Map;"],
        [
            ("class", "Shapes"),
            ("constructor", "Shapes"),
            ("method", "count"),
            ("interface", "Visitor"),
            ("method", "visit"),
        ],
    ),
    Case(
        "c",
        C,
        [("function", "area", "static int area(struct point *p, int scale)")],
        ["#include <stdio.h>", '#include "point.h"'],
        [("struct", "point"), ("type", "size"), ("function", "make"), ("function", "area")],
    ),
    Case(
        "cpp",
        CPP,
        [
            ("namespace", "geo", "namespace geo"),
            ("class", "Shape", "class Shape"),
            ("method", "area", "int area(int scale) const"),
        ],
        ["#include <vector>", "#include <string>"],
        [("namespace", "geo"), ("class", "Shape"), ("method", "~Shape"), ("method", "area"), ("function", "biggest")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.language_id for case in CASES])
def test_scopes_around_the_cursor(case: Case) -> None:
    syntax, cursor = parse(case.language_id, case.document)
    scopes = extract.enclosing_scopes(syntax, cursor)
    assert [(scope.kind, scope.name, scope.header) for scope in scopes] == case.scopes
    line = case.document[: case.document.index("█")].count("\n")
    assert all(scope.start_line <= line <= scope.end_line for scope in scopes)


@pytest.mark.parametrize("case", CASES, ids=[case.language_id for case in CASES])
def test_imports(case: Case) -> None:
    syntax, _ = parse(case.language_id, case.document)
    found = extract.imports(syntax)
    assert [snippet.text for snippet in found] == case.imports
    lines = syntax.source.decode().splitlines()
    for snippet in found:
        assert "\n".join(lines[snippet.start_line : snippet.end_line + 1]) == snippet.text


@pytest.mark.parametrize("case", CASES, ids=[case.language_id for case in CASES])
def test_definitions(case: Case) -> None:
    syntax, _ = parse(case.language_id, case.document)
    found = extract.definitions(syntax)
    assert [(definition.kind, definition.name) for definition in found] == case.definitions
    for definition in found:
        assert definition.text.startswith(definition.header)
        assert definition.start_line <= definition.end_line


@pytest.mark.parametrize("case", CASES, ids=[case.language_id for case in CASES])
def test_top_level_cursor_has_no_scope(case: Case) -> None:
    syntax, _ = parse(case.language_id, case.document)
    assert extract.enclosing_scopes(syntax, 0) == []
    assert extract.enclosing_scopes(syntax, len(syntax.source)) == []


def test_a_definition_has_its_header_and_whole_text() -> None:
    syntax, _ = parse("python", PYTHON)
    dist = next(d for d in extract.definitions(syntax) if d.name == "dist")
    assert dist.header == 'def dist(self, other: "Point") -> float:'
    assert dist.text == 'def dist(self, other: "Point") -> float:\n        total = 0.0\n        return total'
    assert (dist.start_line, dist.end_line) == (7, 9)


PYTHON_BLANK_LINES = """\
class A:
    def f(self):
        return 1
{line}
    def g(self):
        pass
"""


@pytest.mark.parametrize(
    ("indent", "names"),
    [("", ["A"]), ("    ", ["A"]), ("        ", ["A", "f"]), ("            ", ["A", "f"])],
)
def test_python_blank_line_after_a_body_belongs_to_the_block_it_is_indented_into(indent: str, names: list[str]) -> None:
    # tree-sitter ends f at `return 1`: the blank line is outside f's node whatever its indentation.
    syntax, cursor = parse("python", PYTHON_BLANK_LINES.format(line=indent + "█"))
    assert [scope.name for scope in extract.enclosing_scopes(syntax, cursor)] == names


def test_python_blank_line_at_the_end_of_the_file() -> None:
    syntax, cursor = parse("python", "class A:\n    def f(self):\n        return 1\n\n        █")
    assert [scope.name for scope in extract.enclosing_scopes(syntax, cursor)] == ["A", "f"]
    syntax, cursor = parse("python", "def f():\n    return 1\n\n█")
    assert extract.enclosing_scopes(syntax, cursor) == []


def test_cursor_at_the_end_of_a_block() -> None:
    # Where indentation ends blocks, the end of the last line is still inside; past a brace it is not.
    syntax, cursor = parse("python", "def f():\n    return 1█")
    assert [scope.name for scope in extract.enclosing_scopes(syntax, cursor)] == ["f"]
    syntax, cursor = parse("javascript", "function f() {\n  return 1;\n}█\n")
    assert extract.enclosing_scopes(syntax, cursor) == []
    syntax, cursor = parse("javascript", "function f() {\n  return 1;\n█}\n")
    assert [scope.name for scope in extract.enclosing_scopes(syntax, cursor)] == ["f"]


def test_without_a_tree_everything_is_empty() -> None:
    plain = SyntaxTree.create("plaintext", "def f():\n    pass\n")
    assert plain is None
    assert extract.enclosing_scopes(plain, 3) == []
    assert extract.imports(plain) == []
    assert extract.definitions(plain) == []


@pytest.mark.parametrize(
    ("language_id", "text"),
    [
        ("javascript", "(" * 5000 + ")" * 5000),
        ("python", "[" * 5000 + "]" * 5000),
        ("c", "{" * 5000),
        ("javascript", "function f() {" * 3000 + "}" * 3000),
        ("python", "".join(" " * i + "def f():\n" for i in range(0, 2000, 4)) + " " * 2000 + "pass\n"),
    ],
    ids=["parentheses", "brackets", "braces", "functions", "python-functions"],
)
def test_deeply_nested_input_is_bounded(language_id: str, text: str) -> None:
    syntax = SyntaxTree.create(language_id, text, timeout_ms=5000)
    assert syntax is not None
    started = time.perf_counter()
    scopes = extract.enclosing_scopes(syntax, len(text) // 2)
    found = extract.definitions(syntax)
    extract.imports(syntax)
    assert time.perf_counter() - started < 2
    assert len(scopes) <= extract.MAX_SCOPES
    assert len(found) <= extract.MAX_DEFINITIONS


def test_minified_javascript_is_bounded() -> None:
    parts = ['import a from "a";']
    for n in range(3000):  # one line of 200 KB and more
        parts.append(f"function f{n}(a,b){{var c=a+b;return c>{n}?[c,{{y:function(){{return b}}}}]:g(c)}};")
        parts.append(f"const h{n}=(x)=>x*{n};")
    text = "".join(parts)
    assert len(text) > 200_000 and "\n" not in text
    syntax = SyntaxTree.create("javascript", text, timeout_ms=5000)
    assert syntax is not None
    started = time.perf_counter()
    scopes = extract.enclosing_scopes(syntax, len(text) // 2)
    found = extract.definitions(syntax)
    imported = extract.imports(syntax)
    assert time.perf_counter() - started < 2
    assert [scope.kind for scope in scopes] in (["function"], [])
    assert len(found) == extract.MAX_DEFINITIONS
    assert [definition.name for definition in found[:3]] == ["f0", "y", "h0"]
    assert [snippet.text for snippet in imported] == ['import a from "a";']
