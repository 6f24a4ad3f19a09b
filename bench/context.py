"""context: the cost of building a prompt's context per keystroke, and how stable it is.

A workspace of real source files (installed packages' Python sources, copied into a temp
folder and indexed like a user's project), 20 of them open, and a 2,000-line current file
in which typing is replayed: per keystroke, the edit is applied to the server's copy
(incremental tree-sitter parse included) and the prompt is built as the server builds it
(local window, retrieval, packing, FIM template). Reported: apply and context-building
percentiles, the workspace index's build time, and how many leading prompt tokens each
keystroke shares with the previous prompt (what llama.cpp's KV cache can keep).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from copilot.assembly import build_pipeline
from copilot.config import Config, apply_layer
from copilot.documents import Change, DocumentStore, Position
from copilot.pipeline import Pipeline, common_prefix

from .report import percentiles, write

CURRENT_LINES = 2000


def source_pool() -> list[Path]:
    """Python sources of the installed packages: real code of every size and style."""
    root = Path(sysconfig.get_paths()["purelib"])
    return [p for p in sorted(root.rglob("*.py")) if 500 < p.stat().st_size < 300_000 and "test" not in p.parts]


def build_workspace(destination: Path, files: int, rng: random.Random) -> list[Path]:
    pool = source_pool()
    chosen = sorted(rng.sample(pool, min(files, len(pool))))
    root = Path(sysconfig.get_paths()["purelib"])
    copied = []
    for source in chosen:
        target = destination / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copied.append(target)
    return copied


def current_file(pool: list[Path]) -> str:
    """A real file of at least ``CURRENT_LINES`` lines, cut to that length."""
    for path in pool:
        text = path.read_text(encoding="utf-8", errors="replace")
        if text.count("\n") >= CURRENT_LINES:
            return "\n".join(text.split("\n")[:CURRENT_LINES])
    raise SystemExit(f"no installed source file has {CURRENT_LINES} lines")


def replay(pipeline: Pipeline, documents: DocumentStore, uri: str, lines: list[int], keystrokes: int) -> dict[str, Any]:
    """Type the text of each of ``lines`` again after clearing it; time every keystroke."""
    document = documents.get(uri)
    apply_ms, syntax_ms, context_ms, shared = [], [], [], []
    previous: list[int] = []
    for line in lines:
        text = document.text.split("\n")[line]
        indent = len(text) - len(text.lstrip())
        typed = text[indent:][:keystrokes]
        clear = Change(
            text="", start=Position(line=line, character=indent), end=Position(line=line, character=len(text))
        )
        document.apply([clear], document.version + 1, "utf-16")
        for column, char in enumerate(typed, indent):
            at = Position(line=line, character=column)
            change = Change(text=char, start=at, end=at)
            started = time.perf_counter()
            document.apply([change], document.version + 1, "utf-16")
            apply_ms.append((time.perf_counter() - started) * 1000)
            syntax_ms.append(document.syntax_ms)
            pipeline.changed(uri, [change])
            snapshot = document.snapshot(Position(line=line, character=column + 1), "utf-16")
            started = time.perf_counter()
            prompt = pipeline.build_prompt(snapshot).tokens
            context_ms.append((time.perf_counter() - started) * 1000)
            if previous:
                shared.append(common_prefix(previous, prompt) / len(prompt))
            previous = prompt
    return {
        "keystrokes": len(context_ms),
        "apply_ms": percentiles(apply_ms),
        "syntax_ms": percentiles(syntax_ms),
        "context_ms": percentiles(context_ms),
        "shared_prompt_share": {
            "median": round(statistics.median(shared), 4) if shared else None,
            "mean": round(statistics.fmean(shared), 4) if shared else None,
        },
    }


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 1e6


def bad_inputs(pipeline: Pipeline, documents: DocumentStore, root: Path, smoke: bool) -> dict[str, Any]:
    """Open each pathological file, type one character at its end, build the prompt there."""
    scale = 10 if smoke else 1
    cases = {
        "minified_10MB_one_line.js": ("javascript", "var a=function(b){return b+1};" * (350_000 // scale)),
        "huge_10MB.py": ("python", "def f(x):\n    return x + 1\n" * (400_000 // scale)),
        "nested_100k.py": ("python", "x = " + "[" * (100_000 // scale)),
        "binary.py": ("python", "\x00\x01\x02abc\x00\x7f" * 50_000),
    }
    found: dict[str, Any] = {}
    for name, (language, text) in cases.items():
        uri = (root / name).as_uri()
        memory = rss_mb()
        started = time.perf_counter()
        document = documents.open(uri, language, 0, text)
        opened = (time.perf_counter() - started) * 1000
        pipeline.opened(uri)
        last = document.text.count("\n")
        column = len(document.text) - document.text.rfind("\n") - 1
        at = Position(line=last, character=column)
        started = time.perf_counter()
        document.apply([Change(text="x", start=at, end=at)], 1, "utf-32")
        applied = (time.perf_counter() - started) * 1000
        snapshot = document.snapshot(Position(line=last, character=column + 1), "utf-32")
        started = time.perf_counter()
        prompt = pipeline.build_prompt(snapshot).tokens
        found[name] = {
            "mb": round(len(text) / 1e6, 1),
            "open_ms": round(opened, 1),
            "keystroke_ms": round(applied, 1),
            "context_ms": round((time.perf_counter() - started) * 1000, 1),
            "prompt_tokens": len(prompt),
            "syntax_tree": document.syntax is not None,
            "rss_growth_mb": round(rss_mb() - memory, 1),
        }
        documents.close(uri)
        pipeline.forget(uri)
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="copilot-bench-context-") as folder:
        root = Path(folder)
        files = build_workspace(root / "workspace", args.workspace_files, rng)
        current = root / "workspace" / "current_module.py"
        current.write_text(current_file(source_pool()), encoding="utf-8")
        config = apply_layer(Config(), {"cache": {"enabled": False}, "context": {"index_max_files": 100_000}}, "bench")
        result: dict[str, Any] = {"workspace_files": len(files), "open_documents": args.open_files + 1}
        for mode in ("during_indexing", "with_retrieval", "window_only"):
            documents = DocumentStore()
            for path in rng.sample(files, min(args.open_files, len(files))):
                documents.open(path.as_uri(), "python", 0, path.read_text(encoding="utf-8", errors="replace"))
            uri = current.as_uri()
            documents.open(uri, "python", 0, current.read_text(encoding="utf-8"))
            started, memory = time.perf_counter(), rss_mb()
            pipeline = build_pipeline(config, documents if mode != "window_only" else None, root / "workspace")
            try:
                index = pipeline.retriever.index if pipeline.retriever else None
                if mode == "during_indexing":  # typing while the index is built on its thread
                    assert index is not None
                    for other in documents.uris():
                        pipeline.opened(other)
                    result[mode] = replay(pipeline, documents, uri, _lines(documents, uri, args), args.keystrokes)
                    result[mode]["index_files_when_done_typing"] = index.files
                    continue
                if index is not None:
                    index.done.wait()
                    result["index"] = {
                        "files": index.files,
                        "definitions": index.symbols,
                        "seconds": round(index.seconds, 2),
                        "wall_seconds_from_start": round(time.perf_counter() - started, 2),
                        "rss_growth_mb": round(rss_mb() - memory, 1),
                    }
                for other in documents.uris():
                    pipeline.opened(other)
                result[mode] = replay(pipeline, documents, uri, _lines(documents, uri, args), args.keystrokes)
                if mode == "with_retrieval":
                    result["bad_input"] = bad_inputs(pipeline, documents, root / "workspace", args.smoke)
            finally:
                pipeline.close()
    return result


def _lines(documents: DocumentStore, uri: str, args: argparse.Namespace) -> list[int]:
    """The lines typed again: the same ones in every mode."""
    text_lines = documents.get(uri).text.split("\n")
    candidates = [i for i in range(50, len(text_lines)) if 10 <= len(text_lines[i].strip()) <= 70]
    return sorted(random.Random(args.seed).sample(candidates, min(args.sessions, len(candidates))))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace-files", type=int, default=5000)
    parser.add_argument("--open-files", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=20, help="lines typed again")
    parser.add_argument("--keystrokes", type=int, default=30, help="per line, at most")
    parser.add_argument("--seed", type=int, default=3)


def main(args: argparse.Namespace) -> None:
    if args.smoke:
        args.workspace_files, args.sessions, args.keystrokes = 200, 3, 10
    result = run(args)
    write("context", result, args.out or Path("bench/results/context.json"))
    print("| mode | context p50 / p95 / p99 ms | apply (incl. parse) p50 / p99 ms | shared prompt median |")
    print("| --- | --- | --- | --- |")
    for mode in ("during_indexing", "with_retrieval", "window_only"):
        r = result[mode]
        c, a = r["context_ms"], r["apply_ms"]
        print(
            f"| {mode} | {c['p50']} / {c['p95']} / {c['p99']} | {a['p50']} / {a['p99']} "
            f"| {r['shared_prompt_share']['median']} |"
        )
    print("\n| bad input | MB | open ms | keystroke ms | context ms | prompt tokens | syntax tree | RSS growth MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in result["bad_input"].items():
        print(
            f"| {name} | {r['mb']} | {r['open_ms']} | {r['keystroke_ms']} | {r['context_ms']} | {r['prompt_tokens']} "
            f"| {r['syntax_tree']} | {r['rss_growth_mb']} |"
        )
    if "index" in result:
        index = result["index"]
        print(
            f"\nindex: {index['files']} files, {index['definitions']} definitions in {index['seconds']} s,"
            f" +{index['rss_growth_mb']} MB resident"
        )
