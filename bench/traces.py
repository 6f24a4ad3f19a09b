"""Replayable typing traces over real source files the default model never trained on.

The default model trained on the Python standard library, so traces come from the sources
of installed third-party packages (pygls and lsprotocol by default). A trace is a list of
sessions: at a position in the file, the text before it is on screen and the user types
the rest of the line, one character at a time. Generation is seeded and reproducible:
``python -m bench traces --seed 7`` writes the sessions the suites replay.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
from pathlib import Path

import msgspec

DEFAULT_PACKAGES = ("pygls", "lsprotocol", "msgspec")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: LSP's default position encoding."""
    return len(text.encode("utf-16-le")) // 2


class TypingSession(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    text_before: str  # the file up to the start of the typed line
    typed: str  # what the user types (one line, without its newline)
    text_after: str  # the rest of the file, from the typed line's newline on

    @property
    def cursor(self) -> tuple[int, int]:
        """Where typing starts, as an LSP position: line and UTF-16 column."""
        return self.text_before.count("\n"), utf16_len(self.text_before.rsplit("\n", 1)[-1])


def package_sources(packages: tuple[str, ...] = DEFAULT_PACKAGES) -> list[Path]:
    files: list[Path] = []
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec and spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                files.extend(sorted(Path(location).rglob("*.py")))
    return [f for f in files if 2_000 < f.stat().st_size < 200_000]


def make_trace(sessions: int, seed: int, packages: tuple[str, ...] = DEFAULT_PACKAGES) -> list[TypingSession]:
    rng = random.Random(seed)
    files = package_sources(packages)
    if not files:
        raise SystemExit(f"no source files found in packages {packages}")
    trace: list[TypingSession] = []
    while len(trace) < sessions:
        path = rng.choice(files)
        lines = path.read_text(encoding="utf-8").split("\n")
        candidates = [i for i in range(10, len(lines) - 1) if 8 <= len(lines[i].strip()) <= 60]
        if not candidates:
            continue
        index = rng.choice(candidates)
        line = lines[index]
        indent = len(line) - len(line.lstrip())
        trace.append(
            TypingSession(
                path=str(path),
                text_before="\n".join(lines[:index]) + "\n" + line[:indent],
                typed=line[indent:],
                text_after="\n" + "\n".join(lines[index + 1 :]),
            )
        )
    return trace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES))


def main(args: argparse.Namespace) -> None:
    """Write the trace the suites replay (same sessions and seed: the same trace), one JSON
    object per line: file, the typed line, and where it is."""
    if args.smoke:
        args.sessions = 3
    trace = make_trace(args.sessions, args.seed, tuple(args.packages))
    out = args.out.with_suffix(".jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as file:
        for session in trace:
            where = {"path": session.path, "line": session.text_before.count("\n"), "typed": session.typed}
            file.write(msgspec.json.encode(where).decode() + "\n")
    keys = sum(len(s.typed) for s in trace)
    print(f"{len(trace)} typing sessions, {keys} keystrokes, seed {args.seed}: wrote {out}")
