"""Latency on a 2,000-line file: renames and one-off edits typed key by key."""

from __future__ import annotations

import ast
import random
import re
from typing import Any

from copilot.nextedit.rename import Replacement

from ..report import percentiles
from .cases import Offsets, fresh_word, name_tokens, rename_cases
from .common import BIG_FILE, Editor
from .no_edits import one_off_sites

# -- the 2,000-line file ---------------------------------------------------------------------------


def cut(text: str, lines: int) -> str:
    """``text`` up to the last top-level ``def``/``class``/decorator at or before line ``lines``."""
    kept = text.split("\n")
    for index in range(min(lines, len(kept)) - 1, 0, -1):
        if kept[index].startswith(("def ", "class ", "@", "async def ")):
            while index > 0 and kept[index - 1].startswith("@"):
                index -= 1
            return "\n".join(kept[:index]).rstrip("\n") + "\n"
    return text


def module_names(text: str, count: int) -> list[tuple[str, int]]:
    """The most used top-level function, class and variable names (name, offset of its binding)."""
    tree = ast.parse(text)
    offsets = Offsets(text)
    uses: dict[str, int] = {}
    for _, _, name, after_dot in name_tokens(text):
        if not after_dot:
            uses[name] = uses.get(name, 0) + 1
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            line = offsets.lines[node.lineno - 1]
            match = re.search(rf"\b(?:def|class)\s+({re.escape(node.name)})\b", line)
            if match:
                found.append((node.name, offsets.line_start(node.lineno) + match.start(1)))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = node.targets[0]
            found.append((target.id, offsets.at(target.lineno, target.col_offset)))
    found = [(name, at) for name, at in found if 5 <= uses.get(name, 0) <= 200 and not name.startswith("__")]
    found.sort(key=lambda item: -uses[item[0]])
    return found[:count]


def _timed(editor: Editor, repeats: int) -> tuple[list[Replacement], float]:
    """The suggestions and the median time of ``repeats`` requests at this step (``propose``
    keeps no state, so repeating it measures the same work; the median damps other load)."""
    timings = []
    found: list[Replacement] = []
    for _ in range(repeats):
        found, ms = editor.ask()
        timings.append(ms)
    return found, sorted(timings)[len(timings) // 2]


def run_big_file(
    text: str, rng: random.Random, locals_count: int, module_count: int, edits: int, repeats: int = 3
) -> dict[str, Any]:
    rows = []
    local_cases = sorted(rename_cases(BIG_FILE, text), key=lambda c: -len(c.expected))[:locals_count]
    renames = [("local", c.function, c.old, c.binding, len(c.expected) + 1) for c in local_cases]
    module = module_names(text, module_count)
    uses = {name: 0 for name, _ in module}
    for _, _, name, after_dot in name_tokens(text):
        if name in uses and not after_dot:
            uses[name] += 1
    renames += [("module-level", "<module>", name, at, uses[name]) for name, at in module]
    all_ms: list[float] = []
    named_ms: list[float] = []  # steps where a name is written at the binding
    slowest: list[tuple[float, str]] = []
    for scope, function, old, at, occurrences in renames:
        editor = Editor(f"file:///heldout/{BIG_FILE}", text)
        new = fresh_word(text, rng)
        samples, offered = [], 0
        for partial in editor.retype(at, old, new):
            found, ms = _timed(editor, repeats)
            samples.append(ms)
            if partial.isidentifier():
                named_ms.append(ms)
            slowest.append(
                (ms, f"`{old}` -> `{partial}`: {len(found)} suggestions ({found[0].kind if found else '-'})")
            )
            offered = len(found)
        all_ms += samples
        rows.append(
            {
                "case": f"rename {scope} `{old}` ({function}, {occurrences} uses) -> {new}",
                "steps": len(samples),
                "suggested_at_last_step": offered,
                "suggest_ms": percentiles(samples),
                "max_ms": round(max(samples), 2),
                "apply_ms": percentiles(editor.apply_ms),
            }
        )
    one_off: list[float] = []
    for path, at, old, new in one_off_sites({BIG_FILE: text}, rng, edits):
        editor = Editor(f"file:///heldout/{path}", text)
        for partial in editor.retype(at, old, new):
            found, ms = _timed(editor, repeats)
            one_off.append(ms)
            slowest.append((ms, f"one-off `{old}` -> `{partial}`: {len(found)} suggestions"))
    rows.append(
        {
            "case": f"one-off number/operator edits ({edits})",
            "steps": len(one_off),
            "suggest_ms": percentiles(one_off),
            "max_ms": round(max(one_off), 2) if one_off else None,
        }
    )
    slowest.sort(key=lambda item: -item[0])
    return {
        "lines": text.count("\n"),
        "repeats_per_step": repeats,
        "rows": rows,
        "rename_ms": percentiles(all_ms),
        "rename_named_steps_ms": percentiles(named_ms),
        "slowest_steps": [f"{ms:.1f} ms: {what}" for ms, what in slowest[:10]],
    }
