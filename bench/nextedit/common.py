"""The nextedit bench's shared parts: its settings, an editor typing key by key on a simulated clock, the
tallies of each kind and their examples."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from copilot.documents import Change, Document
from copilot.nextedit.history import PAUSE_S
from copilot.nextedit.rename import Replacement
from copilot.nextedit.suggest import NextEdits

from ..report import percentiles

if TYPE_CHECKING:
    from .cases import RenameCase

CACHE = Path.home() / ".cache" / "copilot-lsp" / "bench-nextedit"
# (package, old release, the next release): pure-Python packages, releases with real changes.
PACKAGES = (
    ("six", "1.15.0", "1.16.0"),
    ("idna", "2.10", "3.0"),
    ("requests", "2.27.1", "2.28.0"),
    ("markupsafe", "1.1.1", "2.0.0"),
    ("jinja2", "2.11.3", "3.0.0"),
    ("click", "7.1.2", "8.0.0"),
    ("attrs", "21.4.0", "22.1.0"),
    ("packaging", "21.3", "22.0"),
)
WORDS = (
    "amount", "payload", "target", "quantity", "marker", "record", "widget", "counter", "holder", "bucket",
    "cursor", "summary", "fragment", "snapshot", "outcome", "ledger", "parcel", "vessel", "beacon", "harvest",
)  # fmt: skip
Examples = dict[str, list[dict[str, Any]]]  # kind -> examples of misses and wrong suggestions
KEY_S = 0.15  # simulated seconds a key
THINK_S = PAUSE_S + 0.5  # a pause that ends an edit
LINE_PAUSE_SHARE = 0.3
MAX_DIFF_LINES = 5000
MAX_GROUPS_PER_FILE = 10
MAX_GROUPS_PER_PACKAGE = 60
MAX_LEARNER_TRIES_PER_FILE = 300
MAX_EXAMPLES = 40
BIG_FILE = "test/support/__init__.py"  # held out; cut to BIG_LINES
BIG_LINES = 2000
MODEL_ROW = (
    "not measurable here: no next-edit model can be fetched on this machine; run "
    "`copilot-lsp models pull sweep-next-edit-0.5b` then `python -m bench nextedit --model ...`"
)
_SWAPS = {"<": "<=", ">": ">=", "<=": "<", ">=": ">", "==": "!=", "!=": "==", "+": "-", "-": "+", "*": "/"}


# -- editing, key by key, on a simulated clock -------------------------------------------------


class Editor:
    """One document edited as an editor sends edits, with ``NextEdits`` on a simulated clock."""

    def __init__(self, uri: str, text: str) -> None:
        self.now = 1000.0
        self.document = Document(uri, "python", 1, text)
        self.edits = NextEdits(clock=lambda: self.now)
        self.apply_ms: list[float] = []

    def change(self, start: int, end: int, text: str, seconds: float = KEY_S) -> None:
        self.now += seconds
        document = self.document
        begin, finish = document.position_at(start, "utf-16"), document.position_at(end, "utf-16")
        started = time.perf_counter()
        applied = document.apply([Change(text=text, start=begin, end=finish)], document.version + 1, "utf-16")
        self.apply_ms.append((time.perf_counter() - started) * 1000)
        self.edits.changed(document.uri, applied, document.version)

    def pause(self, seconds: float = THINK_S) -> None:
        self.now += seconds

    def ask(self) -> tuple[list[Replacement], float]:
        started = time.perf_counter()
        _, found = self.edits.suggest(self.document, [])
        return found, (time.perf_counter() - started) * 1000

    def retype(self, at: int, old: str, new: str) -> Iterator[str]:
        """Delete ``old`` at ``at`` key by key (backspace), then type ``new``; yields the text
        written at ``at`` after each key."""
        assert self.document.text[at : at + len(old)] == old
        for i in range(len(old), 0, -1):
            self.change(at + i - 1, at + i, "")
            yield old[: i - 1]
        for i, char in enumerate(new):
            self.change(at + i, at + i, char)
            yield new[: i + 1]

    def line_of(self, offset: int) -> int:
        return self.document.text.count("\n", 0, offset)


@dataclass
class Tally:
    """Counts and latencies of one kind."""

    cases: int = 0
    asks: int = 0
    exact: int = 0
    exact_any: int = 0
    location: int = 0
    answered: int = 0  # asks with any suggestion
    suggestions: int = 0
    wrong: int = 0
    recall_found: int = 0
    recall_wanted: int = 0
    latency_ms: list[float] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)

    def bump(self, key: str, by: int = 1) -> None:
        self.extra[key] = self.extra.get(key, 0) + by

    def summary(self) -> dict[str, Any]:
        def share(part: int, whole: int) -> float | None:
            return round(100 * part / whole, 1) if whole else None

        return {
            "cases": self.cases,
            "asks": self.asks,
            "exact_pct": share(self.exact, self.asks),
            "exact_any_pct": share(self.exact_any, self.asks),
            "location_pct": share(self.location, self.asks),
            "any_suggestion_pct": share(self.answered, self.asks),
            "recall_pct": share(self.recall_found, self.recall_wanted),
            "wrong_pct_of_suggestions": share(self.wrong, self.suggestions),
            "suggestions": self.suggestions,
            "wrong": self.wrong,
            "latency_ms": percentiles(self.latency_ms),
            **self.extra,
        }


def _example(
    examples: Examples,
    key: str,
    editor: Editor,
    case: RenameCase,
    line: int,
    partial: str,
    why: str,
    got: Replacement | None,
    expected: set[int],
) -> None:
    bucket = examples.setdefault(key, [])
    if len(bucket) >= MAX_EXAMPLES or any(e["where"] == f"{case.path}:{line}" for e in bucket):
        return
    text = editor.document.text
    nearest = min(expected, key=lambda at: abs(at - case.binding))
    entry = {
        "where": f"{case.path}:{line}",
        "function": case.function,
        "rename": f"{case.old} -> {partial}",
        "why": why,
        "expected_first_line": editor.line_of(nearest) + 1,
        "expected_lines": sorted(editor.line_of(at) + 1 for at in expected),
    }
    if got is not None:
        entry["got"] = (
            f"line {editor.line_of(got.start) + 1}: {text[got.start : got.end]!r} -> {got.new!r} ({got.kind})"
        )
        entry["got_line_text"] = text.split("\n")[editor.line_of(got.start)].strip()
    bucket.append(entry)
