"""Repeated changes from real release diffs: two releases of packages from PyPI, diffed, replayed."""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from copilot.models.recipe.data import MAX_FILE_BYTES
from copilot.nextedit.history import EditEvent
from copilot.nextedit.repeated import apply_elsewhere, learn
from copilot.nextedit.repeated import tokenize as tokens_of
from copilot.nextedit.suggest import MAX_SUGGESTIONS

from .cases import Offsets
from .common import (
    CACHE,
    MAX_DIFF_LINES,
    MAX_EXAMPLES,
    MAX_GROUPS_PER_FILE,
    MAX_GROUPS_PER_PACKAGE,
    MAX_LEARNER_TRIES_PER_FILE,
    Editor,
    Examples,
    Tally,
)

# -- repeated changes from release diffs -----------------------------------------------------------


@dataclass(frozen=True)
class LineChange:
    line: int  # 0-based, in the old file
    old: str
    new: str


def line_changes(old_text: str, new_text: str) -> tuple[list[LineChange], dict[int, set[str]]]:
    """The old file's lines changed one-to-one (in order), and for every old line the new
    release changed or removed, the lines it may have become (empty: removed)."""
    old, new = old_text.split("\n"), new_text.split("\n")
    pairs: list[LineChange] = []
    truth: dict[int, set[str]] = {}
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "delete":
            for i in range(i1, i2):
                truth[i] = set()
        elif tag == "replace":
            for i in range(i1, i2):
                truth[i] = set(new[j1:j2])
            if i2 - i1 == j2 - j1:
                pairs += [LineChange(i1 + k, old[i1 + k], new[j1 + k]) for k in range(i2 - i1)]
            elif (i2 - i1) * (j2 - j1) <= 2500:
                pairs += _similar_pairs(old, new, i1, i2, j1, j2)
    for change in pairs:
        truth[change.line] = {change.new}
    return pairs, truth


def _similar_pairs(old: list[str], new: list[str], i1: int, i2: int, j1: int, j2: int) -> list[LineChange]:
    """Lines of a replaced block of unequal sizes paired in order when they are alike."""
    pairs, j = [], j1
    for i in range(i1, i2):
        best, best_ratio = -1, 0.75
        for k in range(j, j2):
            matcher = difflib.SequenceMatcher(None, old[i].strip(), new[k].strip())
            if matcher.real_quick_ratio() > best_ratio and matcher.ratio() > best_ratio:
                best, best_ratio = k, matcher.ratio()
        if best >= 0:
            pairs.append(LineChange(i, old[i], new[best]))
            j = best + 1
    return pairs


def change_signature(old_line: str, new_line: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The token-level change: the tokens between the common head and tail, before and after,
    with the names and literals that are on both sides numbered (``#0``...); None when only
    spacing changed."""
    before, after = [t.text for t in tokens_of(old_line)], [t.text for t in tokens_of(new_line)]
    head = 0
    while head < min(len(before), len(after)) and before[head] == after[head]:
        head += 1
    tail = 0
    while tail < min(len(before), len(after)) - head and before[-1 - tail] == after[-1 - tail]:
        tail += 1
    removed, added = before[head : len(before) - tail], after[head : len(after) - tail]
    if not removed and not added:
        return None
    shared = {t for t in removed if t in added and (t[0].isalnum() or t[0] in "_$'\"")}
    numbers: dict[str, str] = {}
    for t in removed:
        if t in shared:
            numbers.setdefault(t, f"#{len(numbers)}")
    return tuple(numbers.get(t, t) for t in removed), tuple(numbers.get(t, t) for t in added)


def token_groups(pairs: list[LineChange]) -> list[list[LineChange]]:
    """Changed lines that made the same token-level change, two or more, in line order."""
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[LineChange]] = {}
    for change in pairs:
        signature = change_signature(change.old, change.new)
        if signature is not None:
            groups.setdefault(signature, []).append(change)
    return [sorted(g, key=lambda c: c.line) for g in groups.values() if len(g) >= 2]


def _replace_line(text: str, line: int, new_line: str) -> tuple[str, int]:
    lines = text.split("\n")
    start = sum(len(each) + 1 for each in lines[:line])
    lines[line] = new_line
    return "\n".join(lines), start


def learner_groups(
    old_text: str, pairs: list[LineChange], tries: int = MAX_LEARNER_TRIES_PER_FILE
) -> list[list[LineChange]]:
    """The issue's groups: a changed line whose transformation (``repeated.learn``) reproduces,
    by ``apply_elsewhere`` on the old file, the new release's text of other changed lines."""
    by_line = {change.line: change for change in pairs}
    grouped: set[int] = set()
    groups = []
    for change in pairs[:tries]:
        if change.line in grouped or change.old.strip() == change.new.strip():
            continue
        text, start = _replace_line(old_text, change.line, change.new)
        event = EditEvent("u", start, change.old, change.new, 2, 0.0)
        pattern = learn(event, text)
        if pattern is None:
            continue
        members = [change]
        lines = text.split("\n")
        for r in apply_elsewhere(pattern, event, text, "u", 2):
            line = text.count("\n", 0, r.start)
            line_start = sum(len(each) + 1 for each in lines[:line])
            result = text[line_start : r.start] + r.new + text[r.end : line_start + len(lines[line])]
            other = by_line.get(line)
            if other is not None and other.line not in grouped and result == other.new and other not in members:
                members.append(other)
        if len(members) >= 2:
            groups.append(sorted(members, key=lambda c: c.line))
            grouped |= {c.line for c in members}
    return groups


def _release_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def sdist(name: str, version: str, download: bool) -> Path | None:
    """The cached sdist of ``name==version``; downloaded once (``pip download``) when allowed."""
    folder = CACHE / "sdists"

    def cached() -> Path | None:
        if not folder.is_dir():
            return None
        for path in sorted(folder.iterdir()):
            stem = _release_name(path.name)
            if stem.startswith(f"{_release_name(name)}_{_release_name(version)}_") and path.name.endswith(
                (".tar.gz", ".zip", ".tar.bz2")
            ):
                return path
        return None

    found = cached()
    if found is not None or not download:
        return found
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", name]
    command += ["--dest", str(folder), f"{name}=={version}"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"nextedit: could not download {name}=={version}: {done.stderr.strip()[-500:]}")
    return cached()


def python_files(archive: Path) -> dict[str, str]:
    """The .py files of an sdist, by path below its top folder (without a leading ``src/``)."""
    files: dict[str, str] = {}
    members: list[tuple[str, bytes]] = []
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as opened:
            members = [(n, opened.read(n)) for n in opened.namelist() if n.endswith(".py")]
    else:
        with tarfile.open(archive) as opened:
            for member in opened.getmembers():
                if member.isfile() and member.name.endswith(".py") and member.size <= MAX_FILE_BYTES:
                    handle = opened.extractfile(member)
                    if handle is not None:
                        members.append((member.name, handle.read()))
    for name, data in members:
        relative = name.split("/", 1)[1] if "/" in name else name
        relative = relative.removeprefix("src/")
        try:
            files[relative] = data.decode("utf-8").replace("\r\n", "\n")
        except UnicodeDecodeError:
            continue
    return files


def replay(
    group: list[LineChange],
    old_text: str,
    truth: dict[int, set[str]],
    uri: str,
    tally: Tally,
    examples: Examples,
    where: str,
) -> None:
    """Type the group's first change into the old file, ask once, score against the new release."""
    first = group[0]
    editor = Editor(uri, old_text)
    prefix = 0
    while prefix < min(len(first.old), len(first.new)) and first.old[prefix] == first.new[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(first.old), len(first.new)) - prefix
        and first.old[len(first.old) - 1 - suffix] == first.new[len(first.new) - 1 - suffix]
    ):
        suffix += 1
    line_start = sum(len(each) + 1 for each in old_text.split("\n")[: first.line])
    removed = first.old[prefix : len(first.old) - suffix]
    added = first.new[prefix : len(first.new) - suffix]
    for _ in editor.retype(line_start + prefix, removed, added):
        pass
    found, ms = editor.ask()
    text = editor.document.text
    lines = text.split("\n")
    starts = Offsets(text).starts
    tally.cases += 1
    tally.asks += 1
    tally.latency_ms.append(ms)
    tally.answered += bool(found)
    tally.suggestions += len(found)
    others = {c.line: c.new for c in group[1:]}
    hits: set[int] = set()
    for rank, r in enumerate(found):
        line = text.count("\n", 0, r.start)
        result = text[starts[line] : r.start] + r.new + text[r.end : starts[line] + len(lines[line])]
        real = result in truth.get(line, ())
        if text[r.start : r.end] == r.new:
            tally.bump("no-op suggestions")
        if others.get(line) == result:
            hits.add(line)
        if rank == 0:
            tally.bump(f"first suggestion: {r.kind}")
            tally.exact += real
            tally.location += line in truth
        if not real:
            tally.wrong += 1
            status = "changed differently" if truth.get(line) else "removed" if line in truth else "unchanged"
            tally.bump(f"wrong: line {status} in the new release")
            bucket = examples.setdefault("repeat_wrong", [])
            if len(bucket) < MAX_EXAMPLES and rank < 3:
                bucket.append(
                    {
                        "where": f"{where}:{line + 1}",
                        "edit": f"line {first.line + 1}: {first.old.strip()!r} -> {first.new.strip()!r}",
                        "got": f"{lines[line].strip()!r} -> {result.strip()!r}",
                        "new_release": sorted(t.strip() for t in truth.get(line, ()))[:1] or [lines[line].strip()],
                        "kind": r.kind,
                    }
                )
    tally.recall_wanted += min(len(others), MAX_SUGGESTIONS)
    tally.recall_found += len(hits)
    if not hits:
        bucket = examples.setdefault("repeat_missed", [])
        if len(bucket) < MAX_EXAMPLES:
            nearest = min(others, key=lambda line: abs(line - first.line))
            old_lines = old_text.split("\n")
            bucket.append(
                {
                    "where": f"{where}:{first.line + 1}",
                    "edit": f"{first.old.strip()!r} -> {first.new.strip()!r}",
                    "expected": f"line {nearest + 1}: {old_lines[nearest].strip()!r} -> {others[nearest].strip()!r}",
                    "places": len(group),
                    "suggestions": len(found),
                }
            )


def run_repeats(packages: list[tuple[str, str, str]], download: bool, examples: Examples) -> dict[str, Any]:
    tallies = {"token": Tally(), "learner": Tally()}
    rows = []
    for name, old_version, new_version in packages:
        archives = [sdist(name, version, download) for version in (old_version, new_version)]
        if archives[0] is None or archives[1] is None:
            rows.append({"package": name, "versions": f"{old_version} -> {new_version}", "missing": True})
            continue
        old_files, new_files = python_files(archives[0]), python_files(archives[1])
        row: dict[str, Any] = {"package": name, "versions": f"{old_version} -> {new_version}", "files": 0}
        row.update({"changed_lines": 0, "token_groups": 0, "learner_groups": 0, "skipped_files": 0})
        package = {kind: Tally() for kind in tallies}
        for path in sorted(set(old_files) & set(new_files)):
            old_text, new_text = old_files[path], new_files[path]
            if old_text == new_text:
                continue
            if max(old_text.count("\n"), new_text.count("\n")) > MAX_DIFF_LINES:
                row["skipped_files"] += 1
                continue
            row["files"] += 1
            pairs, truth = line_changes(old_text, new_text)
            row["changed_lines"] += len(pairs)
            found = {"token": token_groups(pairs), "learner": learner_groups(old_text, pairs)}
            for kind, groups in found.items():
                row[f"{kind}_groups"] += len(groups)
                for group in groups[:MAX_GROUPS_PER_FILE]:
                    if package[kind].cases >= MAX_GROUPS_PER_PACKAGE:
                        break
                    uri = f"file:///{name}/{path}"
                    replay(group, old_text, truth, uri, package[kind], examples, f"{name}-{old_version}/{path}")
        for kind, tally in package.items():
            row[kind] = tally.summary()
            total = tallies[kind]
            for key in ("cases", "asks", "exact", "location", "answered", "suggestions", "wrong"):
                setattr(total, key, getattr(total, key) + getattr(tally, key))
            total.recall_found += tally.recall_found
            total.recall_wanted += tally.recall_wanted
            total.latency_ms += tally.latency_ms
            for key, value in tally.extra.items():
                total.bump(key, value)
        rows.append(row)
    return {"packages": rows, "token": tallies["token"], "learner": tallies["learner"]}
