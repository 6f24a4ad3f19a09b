"""``copilot-lsp models``: list, info, pull, quantize, use.

``pull`` is the only command of the whole program that uses the network.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from copilot import paths
from copilot.errors import CopilotError, ModelError
from copilot.inference.catalogue import families, models
from copilot.inference.gguf_info import ModelInfo, draft_mismatch, read_info, require_completion_model
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from copilot.models.hub import installed_path, lookup, models_dir


def resolve(spec: str) -> Path:
    """A GGUF path, or the installed file of a catalogue name."""
    path = Path(spec).expanduser()
    if path.suffix == ".gguf" or path.exists():
        return path
    key, entry = lookup(spec)
    installed = installed_path(entry)
    if not installed.is_file():
        raise ModelError(f"{key} is not installed: run `copilot-lsp models pull {key}` first")
    return Path(installed)


def _configured(args: argparse.Namespace) -> Path:
    return Path(args.settings.model.path).expanduser() if args.settings.model.path else DEFAULT_MODEL_PATH


def cmd_list(args: argparse.Namespace) -> int:
    configured = _configured(args).resolve()
    rows = []
    for name, entry in models().items():
        path = installed_path(entry)
        rows.append(
            {
                "name": name,
                "family": entry.family,
                "parameters_b": entry.parameters_b,
                "draft": entry.draft,
                "installed": path.is_file(),
                "in_use": path.resolve() == configured,
                "path": str(path),
                "source": "embedded" if entry.embedded else f"hf:{entry.repo}/{entry.file}",
                "task": entry.task,
            }
        )
    known = {Path(r["path"]).resolve() for r in rows}
    others = sorted(p for p in models_dir().glob("*.gguf") if p.resolve() not in known) if models_dir().is_dir() else []
    if configured not in known and configured not in {p.resolve() for p in others} and configured.is_file():
        others.append(configured)
    for path in others:
        rows.append(
            {
                "name": path.name,
                "family": "",
                "parameters_b": 0.0,
                "draft": "",
                "installed": True,
                "in_use": path.resolve() == configured,
                "path": str(path),
                "source": "local file",
                "task": "",
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'':2}{'name':<22} {'params':>8}  {'draft':<20} {'installed':<9}  source")
    next_edit = paths.next_edit_model_path(args.settings)
    for row in rows:
        in_use = row["in_use"] or (next_edit is not None and Path(row["path"]).resolve() == next_edit.resolve())
        mark = "*" if in_use else " "
        params = f"{row['parameters_b']:.2f}B" if row["parameters_b"] >= 0.1 else f"{row['parameters_b'] * 1000:.1f}M"
        params = params if row["parameters_b"] else "?"
        installed = "yes" if row["installed"] else "-"
        task = "  (next edits)" if row["task"] == "next_edit" else ""
        print(f"{mark} {row['name']:<22} {params:>8}  {row['draft'] or '-':<20} {installed:<9}  {row['source']}{task}")
    print(f"\n* in use (model.path, next_edit.model). Pulled models go to {models_dir()}.")
    if next_edit is None:
        print("Next edits: renames and repeated changes only; for the model part pull a next-edit model and set")
        print("next_edit.model (e.g. `copilot-lsp models pull sweep-next-edit-0.5b`,")
        print('next_edit.model = "sweep-next-edit-0.5b").')
    return 0


def mib(size: int) -> str:
    """A file size as the CLI prints sizes: in MiB (2**20 bytes), as the settings count them."""
    return f"{size / 2**20:.1f} MiB"


def describe(info: ModelInfo, vocabulary: Vocabulary | None) -> list[str]:
    """The header's facts, and what the server will do with the file: llama.cpp's reading of
    its tokens with the family's (``vocabulary``: None when it cannot complete)."""
    shares = ", ".join(f"{kind} {count / info.parameters:.0%}" for kind, count in info.tensor_types.items())
    lines = [
        f"file          {info.path} ({mib(info.size_bytes)})",
        f"name          {info.name}",
        f"architecture  {info.architecture}",
        f"parameters    {info.parameters / 1e6:.1f}M",
        f"quantisation  {info.file_type} ({shares})",
        f"context       {info.context_length or 'unknown'} tokens (trained)",
        f"tokenizer     {info.tokenizer}, {info.vocab_size} tokens, identity {info.tokenizer_digest}",
        f"family        {_family_line(vocabulary.family if vocabulary else info.family)}",
    ]
    if vocabulary is None:
        why = "llama.cpp cannot load it (below)" if info.can_complete else "no fill-in-the-middle tokens"
        return [*lines, f"completion    NO: {why}"]
    fim = vocabulary.fim
    repo = "no repository-level form"
    if vocabulary.repo_level:
        repo = f"repository-level tokens {fim.repo_name}/{fim.file_sep}"
    bos = f"BOS {fim.bos} first, " if fim.bos >= 0 else ""
    lines += [
        f"stop tokens   {sorted(vocabulary.stop_tokens)}",
        f"completion    yes: {bos}FIM {fim.order.upper()}, prefix {fim.prefix} suffix {fim.suffix} "
        f"middle {fim.middle}, {repo}",
    ]
    return [*lines, *(f"warning       {warning}" for warning in vocabulary.warnings)]


def capabilities(info: ModelInfo, vocabulary: Vocabulary | None) -> dict[str, Any]:
    """``models info --json``: the header's facts with the server's reading of the tokens."""
    out: dict[str, Any] = msgspec.to_builtins(info)
    if vocabulary is not None:
        out |= {
            "family": vocabulary.family,
            "fim": msgspec.to_builtins(vocabulary.fim),
            "fim_order": vocabulary.fim.order,
            "repo_level": vocabulary.repo_level,
            "stop_tokens": sorted(vocabulary.stop_tokens),
            "warnings": vocabulary.warnings,
        }
    return out


def _family_line(key: str | None) -> str:
    if key is None:
        return "unknown (not in the catalogue)"
    family = families()[key]
    return f"{family.name} (recommended: prompt window {family.context}, output {family.max_output} tokens)"


def cmd_info(args: argparse.Namespace) -> int:
    info = read_info(resolve(args.model))
    draft_problem = None
    if args.draft:
        draft_problem = draft_mismatch(info, read_info(resolve(args.draft))) or ""
    # llama.cpp's own word on the file (no weights: well under a second on a 151k vocabulary)
    vocabulary, refused = None, None
    try:
        vocabulary = Vocabulary(Path(info.path)) if info.can_complete else None
    except ModelError as exc:
        refused = exc  # said after the description of what the header holds
    if args.json:
        out = capabilities(info, vocabulary)
        if args.draft:
            out["draft_problem"] = draft_problem
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print("\n".join(describe(info, vocabulary)))
        if args.draft:
            print(f"draft         {args.draft}: " + (f"NOT usable: {draft_problem}" if draft_problem else "usable"))
    require_completion_model(info)  # an error (exit 1) with the advice, after the description
    if refused is not None:
        raise refused
    return 1 if draft_problem else 0


def cmd_pull(args: argparse.Namespace) -> int:
    from copilot.models.hub import pull

    pulled = pull(args.name, endpoint=args.endpoint, progress=not args.quiet)
    state = "downloaded" if pulled.downloaded else "already installed"
    print(f"{args.name}: {state}, {pulled.path} (sha256 {pulled.sha256})")
    _, entry = lookup(args.name)
    if entry.draft and not installed_path(models()[entry.draft]).is_file():
        print(f"its draft for speculative decoding: copilot-lsp models pull {entry.draft}")
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    from copilot.models.quantize import greedy_agreement, quantize

    source = resolve(args.source)
    quantize(source, args.output, args.type, args.threads)
    before, after = source.stat().st_size, args.output.stat().st_size
    print(f"{args.output}: {args.type}, {mib(after)} ({after / before:.0%} of {mib(before)})")
    if args.agreement:
        share = greedy_agreement(source, args.output, prompts=args.agreement)
        print(f"greedy agreement with {source.name}: {share:.1%} of next-token choices on held-out code")
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    import tomlkit

    path = resolve(args.model).resolve()
    entry = next((e for e in models().values() if installed_path(e).resolve() == path), None)
    if entry is not None and entry.task == "next_edit":
        raise ModelError(
            f"{args.model} is a next-edit model, not a completion model: set next_edit.model = {args.model!r} instead"
        )
    info = read_info(path)
    Vocabulary(path)  # llama.cpp can load it and it has FIM tokens, or a clear error
    draft = ""
    if entry and entry.draft and entry.use_draft and installed_path(models()[entry.draft]).is_file():
        candidate = installed_path(models()[entry.draft]).resolve()
        if not draft_mismatch(info, read_info(candidate)):
            draft = str(candidate)
    file = args.config or paths.config_file()
    try:
        document = tomlkit.parse(file.read_text(encoding="utf-8")) if file.exists() else tomlkit.document()
    except (OSError, tomlkit.exceptions.ParseError) as exc:
        raise CopilotError(f"cannot update {file}: {exc}; fix or remove it first") from None
    model_table = document.setdefault("model", tomlkit.table())
    model_path = "" if path == DEFAULT_MODEL_PATH.resolve() else str(path)  # "": the embedded default
    model_table["path"] = model_path
    speculative = document.setdefault("speculative", tomlkit.table())
    speculative["draft_model"] = draft
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    partial.write_text(tomlkit.dumps(document), encoding="utf-8")
    partial.replace(file)  # the user's config is never left half-written
    print(f"{file}: model.path = {model_path!r}, speculative.draft_model = {draft!r}")
    print("running servers pick it up when restarted")
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("models", help="list, inspect, download, quantise and choose models")
    sub = parser.add_subparsers(dest="models_command", required=True)
    listing = sub.add_parser("list", help="the catalogue and the installed models")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=guarded(cmd_list))
    info = sub.add_parser("info", help="what a GGUF is (read from its header, without loading it)")
    info.add_argument("model", metavar="FILE|NAME")
    info.add_argument("--draft", metavar="FILE|NAME", help="also check that this model can draft for it")
    info.add_argument("--json", action="store_true")
    info.set_defaults(run=guarded(cmd_info))
    pull = sub.add_parser("pull", help="download a catalogue model from the Hugging Face hub (resumable, verified)")
    pull.add_argument("name")
    pull.add_argument("--endpoint", default=None, help="hub address (default: $HF_ENDPOINT or huggingface.co)")
    pull.add_argument("--quiet", action="store_true", help="no progress bar")
    pull.set_defaults(run=guarded(cmd_pull))
    quantize = sub.add_parser("quantize", help="quantise a GGUF with llama.cpp's quantiser")
    quantize.add_argument("source", metavar="IN")
    quantize.add_argument("output", metavar="OUT", type=Path)
    quantize.add_argument("--type", required=True, help="q8_0, q6_k, q5_k_m, q4_k_m, q4_0 or f16")
    quantize.add_argument("--threads", type=int, default=0, help="0: all cores")
    quantize.add_argument(
        "--agreement", type=int, default=8, metavar="N", help="measure greedy agreement on N prompts (0: skip)"
    )
    quantize.set_defaults(run=guarded(cmd_quantize))
    use = sub.add_parser("use", help="make a model (and its installed draft) the default in the config file")
    use.add_argument("model", metavar="FILE|NAME")
    use.set_defaults(run=guarded(cmd_use))


Command = Callable[[argparse.Namespace], int]


def guarded(command: Command) -> Command:
    """One clear line on stderr and exit status 1 for the errors users can act on."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except CopilotError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return run
