"""nextedit: next-edit suggestions without a model (``copilot/nextedit``): renames, repeated
changes from real release diffs, and edits that should get no suggestion; exact edit match,
location accuracy, false positives and latency per kind.

Every edit goes through ``Document.apply`` and ``NextEdits.changed`` one key at a time, as an
editor sends it, on a simulated clock (``KEY_S`` a key, ``THINK_S`` for a pause, which is longer
than the history's ``PAUSE_S`` and so ends an edit); ``NextEdits.suggest`` is timed with
``perf_counter``. A fresh ``NextEdits`` per case: nothing rejected or accepted carries over.

- ``rename``: held-out standard-library files (the default model's held-out split,
  ``copilot.models.recipe.data.is_held_out``). A case is a function's parameter or local that is
  used >= 3 times there, bound nowhere else in it (no nested function, comprehension, ``global``,
  ``except ... as``, import or keyword argument default that rebinds or reads it from outside).
  Its binding (the parameter, else the first assignment) is renamed as a user does: the old name
  deleted key by key, then a fresh word (not in the file) typed key by key, with a request after
  every key. A step is eligible when the name now at the binding is an identifier, not a keyword,
  not the old name, and no variable of the function is called that (``eligible``). Expected: the
  other occurrences (``ast`` names, not keyword-argument names, attributes, strings) on other lines
  than the binding's (the server never suggests on the line being typed). Exact edit match: the
  first suggestion replaces exactly the nearest expected occurrence (nearest to the binding, the
  order the server promises) by the name typed so far. Location: the first suggestion's range is
  one of the expected occurrences. Recall: at the last step, the expected occurrences suggested
  with the right text, over min(expected, ``MAX_SUGGESTIONS``). Wrong: suggestions at eligible
  steps that are not an expected edit.
- ``repeat``: two consecutive releases of several packages (sdists, ``pip download``, cached under
  ``~/.cache/copilot-lsp/bench-nextedit``; a later run needs no network). Python files are diffed
  line by line (``difflib``; lines of unequal replaced blocks paired by similarity). A group is one
  file's changed lines that made the same change, two definitions: ``token``: the same token-level
  change (common tokens stripped from both ends, operands present on both sides abstracted), which
  does not depend on the code under test; ``learner``: the issue's definition, the lines where
  ``repeated.learn`` on the group's first change and ``apply_elsewhere`` reproduce the new release's
  line. The group's first change is typed into the old file, then one request. Exact: the first
  suggestion turns its line into the new release's line (a real change, in the group or not).
  Location: the first suggestion is on a line the new release changed. Recall: the group's other
  places suggested exactly, over min(others, ``MAX_SUGGESTIONS``). Wrong: suggestions whose result
  the new release does not contain.
- no-edit (a suggestion there is a false positive): ``typing``: a held-out function's body deleted,
  a pause, then retyped key by key (Enter with the indentation, then each character; a pause
  before 30 % of the lines), a request after every key; ``one-off``: one number or operator changed
  at one place (``<`` to ``<=``, ``3`` to ``4``...), a request after every key; ``switch`` (not in
  the target's figure): one use of a variable retyped as another variable of the same function,
  asked once the other name is complete (a rename into a name in use must not be suggested).
- ``2,000-line``: a held-out file cut to <= 2,000 lines; renames of its most-used locals and of its
  most-used module-level names typed key by key, ``suggest`` timed at each key; and one-off edits.

The model row: ``--model`` (a next-edit GGUF of the Sweep format) measures its rewrites after
the renames through the server's own path (``rewrites.model_on_renames``); without one it says
how to run it. Prompt-lookup drafts on those rewrites are measured without a model
(``rewrites.on_renames``).

The parts: ``common`` (settings, the editor, tallies), ``cases`` (held-out code, rename cases),
``renames``, ``no_edits``, ``releases`` (repeated changes from release diffs), ``big_file``.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path
from typing import Any

from copilot.errors import CopilotError
from copilot.inference.vocabulary import Vocabulary
from copilot.models.recipe.data import stdlib_root

from .. import rewrites
from ..report import write
from .big_file import cut, run_big_file
from .cases import RenameCase, fresh_word, held_out_files, rename_cases
from .common import BIG_FILE, BIG_LINES, CACHE, MODEL_ROW, PACKAGES, Examples
from .no_edits import one_off_sites, run_one_off, run_switches, run_typing, switch_cases, typing_cases
from .releases import run_repeats
from .renames import run_renames


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--renames-per-file", type=int, default=6)
    parser.add_argument("--typing-functions", type=int, default=30, help="function bodies retyped key by key")
    parser.add_argument("--one-off", type=int, default=150, help="single number/operator edits")
    parser.add_argument("--switches", type=int, default=80, help="uses retyped as another variable")
    parser.add_argument("--offline", action="store_true", help="never download: use the cached releases only")
    parser.add_argument(
        "--model", default="", help="a next-edit GGUF of the Sweep format: its rewrites after the renames, measured"
    )


# -- the run ---------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def _ms(tally_summary: dict[str, Any]) -> tuple[str, str]:
    latency = tally_summary["latency_ms"]
    return (f"{latency['p50']:.2f}", f"{latency['p95']:.2f}") if latency else ("—", "—")


def main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    rng = random.Random(args.seed)
    files = held_out_files()
    if args.smoke:
        files = {path: files[path] for path in ("sched.py", "email/contentmanager.py", "chunk.py") if path in files}
    examples: Examples = {}

    # renames
    by_file = {path: rename_cases(path, text) for path, text in files.items()}
    cases = []
    per_file = 2 if args.smoke else args.renames_per_file
    for path, found in by_file.items():
        chosen = rng.sample(found, min(per_file, len(found)))
        cases += [RenameCase(**{**c.__dict__, "new": fresh_word(files[path], rng)}) for c in chosen]
    cases = cases[:5] if args.smoke else cases
    rename, ineligible = run_renames(cases, files, examples)
    drafts = lookup_drafts(cases, files)
    model_row = rewrites.model_on_renames(Path(args.model), cases, files) if args.model else None

    # no-edit
    bodies = typing_cases(files, rng, 2 if args.smoke else args.typing_functions)
    typing = run_typing(bodies, files, rng, 4 if args.smoke else 1, examples)
    one_off = run_one_off(one_off_sites(files, rng, 8 if args.smoke else args.one_off), files, examples)
    every_case = [case for found in by_file.values() for case in found]
    switches = run_switches(switch_cases(every_case, rng, 4 if args.smoke else args.switches), files, examples)

    # repeated changes from release diffs
    download = not (args.smoke or args.offline)
    packages = list(PACKAGES[:2] if args.smoke else PACKAGES)
    repeats = run_repeats(packages, download, examples)
    missing = [row["package"] for row in repeats["packages"] if row.get("missing")]

    # the 2,000-line file
    big_text = cut((stdlib_root() / BIG_FILE).read_text(encoding="utf-8"), BIG_LINES)
    big = run_big_file(big_text, rng, 1 if args.smoke else 5, 1 if args.smoke else 3, 2 if args.smoke else 20)

    summaries = {
        "rename": rename.summary(),
        "rename_ineligible_steps": ineligible.summary(),
        "repeat_token": repeats["token"].summary(),
        "repeat_learner": repeats["learner"].summary(),
        "no_edit_typing": typing.summary(),
        "no_edit_one_off": one_off.summary(),
        "no_edit_switch": switches.summary(),
    }
    fp = {  # the false-positive rates the target is read against, each no-edit kind on its own
        "typing, every key": summaries["no_edit_typing"]["any_suggestion_pct"],
        "one-off, every key": summaries["no_edit_one_off"]["any_suggestion_pct"],
        "one-off, edit complete": _share(one_off.extra.get("done_answered", 0), one_off.cases),
    }
    worst_fp = max((v for v in fp.values() if v is not None), default=None)
    seconds = time.perf_counter() - started

    print(
        f"\nnext edits without a model: {len(files)} held-out stdlib files, {len(cases)} renames, "
        f"{len(packages) - len(missing)} package release pairs; {seconds:.0f} s\n"
    )
    if missing:
        why = "smoke/offline run: not downloaded, not in the cache" if not download else "download failed"
        print(f"repeat: skipped {', '.join(missing)} ({why}: {CACHE / 'sdists'})\n")
    columns = ["kind", "cases", "asks", "exact", "location", "any suggestion", "recall (last step)"]
    print("| " + " | ".join([*columns, "wrong (of suggestions)", "p50 ms", "p95 ms"]) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    labels = {
        "rename": "rename, eligible steps (rules)",
        "repeat_token": "repeat: same token change (rules)",
        "repeat_learner": "repeat: learner-checked groups (rules)",
        "no_edit_typing": "no-edit: retyping a body (rules)",
        "no_edit_one_off": "no-edit: one-off number/operator (rules)",
        "no_edit_switch": "no-edit: use switched to another variable (rules)",
    }
    for key, label in labels.items():
        s = summaries[key]
        p50, p95 = _ms(s)
        if key.startswith("no_edit"):
            cells = ["—", "—", f"**{_pct(s['any_suggestion_pct'])}** (false positives)", "—", "—"]
            if key == "no_edit_one_off":
                cells[2] += f"; edit complete: {_pct(fp['one-off, edit complete'])} of cases"
        else:
            cells = [_pct(s["exact_pct"]), _pct(s["location_pct"]), _pct(s["any_suggestion_pct"])]
            cells += [_pct(s["recall_pct"]), _pct(s["wrong_pct_of_suggestions"])]
        print(f"| {label} | {s['cases']} | {s['asks']} | " + " | ".join(cells) + f" | {p50} | {p95} |")
    if model_row is None:
        print(f"| any kind (next-edit model) | {MODEL_ROW} |  |  |  |  |  |  |  |  |")
    else:
        print(
            f"| rename rewrites (next-edit model {Path(args.model).name}) | {model_row['rewrites']} | "
            f"{model_row['rewrites']} | {_pct(model_row['exact_pct'])} | | | | | {model_row.get('p50', '-')} | "
            f"{model_row.get('p95', '-')} |"
        )
    if drafts.get("tokens_per_forward") is not None:
        print(
            f"\nprompt-lookup drafts on the rewrites a next-edit model should give after these renames (model-free, "
            f"Qwen2.5-Coder's tokenizer): {drafts['rewrites']} rewrites, {drafts['tokens_per_forward']} answer tokens "
            f"per target forward ({_pct(100 * drafts['drafted_share'])} of them drafted and accepted)"
        )
    elif drafts.get("skipped"):
        print(f"\nprompt-lookup drafts on rewrites: not measured ({drafts['skipped']})")

    s = summaries["rename_ineligible_steps"]
    print(
        f"\nrename: {s['asks']} ineligible steps (no name yet, a keyword, a name in use), "
        f"{_pct(s['any_suggestion_pct'])} with a suggestion; exact match at any expected occurrence "
        f"(not only the nearest): {_pct(summaries['rename']['exact_any_pct'])}"
    )
    misses = {k: v for k, v in summaries["rename"].items() if k.startswith("miss:")}
    if misses:
        print("rename misses (eligible steps): " + "; ".join(f"{k[6:]}: {v}" for k, v in sorted(misses.items())))
    wrong = {k: v for k, v in summaries["rename"].items() if k.startswith("wrong:")}
    if wrong:
        print(
            "rename wrong suggestions (eligible steps): " + "; ".join(f"{k[7:]}: {v}" for k, v in sorted(wrong.items()))
        )
    s = summaries["rename_ineligible_steps"]
    print(
        f"rename ineligible steps answered: {s.get('answered_when_not_a_name', 0)} with nothing or a non-name "
        f"typed, {s.get('answered_when_collides', 0)} with a name in use"
    )
    sw = summaries["no_edit_switch"]
    print(
        f"switch: answered by the repeat fallback: {sw.get('answered_by_repeat', 0)}, by rename: "
        f"{sw.get('answered_by_rename', 0)}; mid-typing (the other name half typed, a rename to it is "
        f"plausible): {sw.get('mid_typing_answered', 0)} of {sw.get('mid_typing_asks', 0)} asks answered"
    )
    oo = summaries["no_edit_one_off"]
    print(
        f"one-off: {oo.get('cases_answered', 0)} of {oo['cases']} cases got a suggestion at some key; no-op "
        f"suggestions (replacing a text by itself): {oo.get('no-op suggestions', 0)} of {oo['suggestions']}"
    )
    for key in ("repeat_token", "repeat_learner"):
        r = summaries[key]
        parts = [f"{k}: {v}" for k, v in sorted(r.items()) if k.startswith(("wrong:", "first suggestion:", "no-op"))]
        print(f"{key.replace('_', ' ')}: " + "; ".join(parts))

    print(f"\n2,000-line file ({BIG_FILE} cut to {big['lines']} lines): `NextEdits.suggest` per key\n")
    print("| case | steps | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    for row in big["rows"]:
        latency = row["suggest_ms"]
        if latency:
            cells = [row["case"], row["steps"], latency["p50"], latency["p95"], row["max_ms"]]
            print("| " + " | ".join(str(cell) for cell in cells) + " |")
    big_p95 = big["rename_ms"].get("p95")
    named_p95 = big["rename_named_steps_ms"].get("p95")
    print(
        f"\nrename steps, all: p95 {big_p95} ms; steps with a name at the binding (not the empty or half-deleted "
        f"moment): p95 {named_p95} ms; median of {big['repeats_per_step']} requests a step; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. Slowest steps:"
    )
    for line in big["slowest_steps"][:5]:
        print(f"- {line}")

    print("\nrepeat: per package (token groups / learner-checked groups)\n")
    print("| package | releases | files changed | changed lines | groups | exact | recall | wrong |")
    print("|---|---|---|---|---|---|---|---|")
    for row in repeats["packages"]:
        if row.get("missing"):
            print(f"| {row['package']} | {row['versions']} | not available | | | | | |")
            continue
        t, lr = row["token"], row["learner"]
        print(
            f"| {row['package']} | {row['versions']} | {row['files']} | {row['changed_lines']} | "
            f"{row['token_groups']} / {row['learner_groups']} | {_pct(t['exact_pct'])} / {_pct(lr['exact_pct'])} | "
            f"{_pct(t['recall_pct'])} / {_pct(lr['recall_pct'])} | "
            f"{_pct(t['wrong_pct_of_suggestions'])} / {_pct(lr['wrong_pct_of_suggestions'])} |"
        )

    rt, rl = summaries["repeat_token"], summaries["repeat_learner"]
    targets = [
        (
            "renames: exact edit match >= 95 % of eligible steps",
            _pct(summaries["rename"]["exact_pct"]),
            _met(summaries["rename"]["exact_pct"], lambda v: v >= 95),
        ),
        (
            "false positives <= 5 % of no-edit asks, each kind",
            "; ".join(f"{k}: {_pct(v)}" for k, v in fp.items()),
            _met(worst_fp, lambda v: v <= 5),
        ),
        (
            f"rename propagation p95 <= 20 ms on a {big['lines']}-line file",
            f"{big_p95} ms" if big_p95 else "—",
            _met(big_p95, lambda v: v <= 20),
        ),
        ("repeated changes from release diffs (token groups)", _repeat_figures(rt), "reported"),
        ("repeated changes from release diffs (learner-checked)", _repeat_figures(rl), "reported"),
    ]
    print("\n| target | measured | met |")
    print("|---|---|---|")
    for target, measured, met in targets:
        print(f"| {target} | {measured} | {met} |")

    for key in (
        "rename_misses",
        "rename_wrong",
        "repeat_missed",
        "repeat_wrong",
        "false_positives_one_off",
        "false_positives_typing",
        "false_positives_switch",
    ):
        shown = examples.get(key, [])[:4]
        if shown:
            print(f"\n{key.replace('_', ' ')} (first {len(shown)} of {len(examples[key])}; all in the JSON):")
            for example in shown:
                print("- " + "; ".join(f"{k}: {v}" for k, v in example.items()))

    write(
        "nextedit",
        {
            "smoke": args.smoke,
            "seed": args.seed,
            "seconds": round(seconds, 1),
            "held_out_files": sorted(files),
            "packages": [f"{n} {a} -> {b}" for n, a, b in packages],
            "missing_packages": missing,
            "kinds": summaries,
            "model": model_row or MODEL_ROW,
            "lookup_drafts_on_rewrites": drafts,
            "false_positive_pct": fp,
            "load_average": os.getloadavg()[0],
            "big_file": big,
            "repeat_packages": repeats["packages"],
            "examples": examples,
            "targets": [{"target": t, "measured": m, "met": met} for t, m, met in targets],
        },
        args.out,
    )


def lookup_drafts(cases: list[RenameCase], files: dict[str, str]) -> dict[str, Any]:
    """``rewrites.on_renames`` in Qwen2.5-Coder's tokens (the families fixture, built from
    the peer's vocabulary files); skipped, saying why, when those are not there."""
    from ..families import family_model

    try:
        vocabulary = Vocabulary(family_model("qwen2_5_coder"))
    except (OSError, CopilotError, SystemExit) as exc:
        return {"skipped": f"no Qwen2.5-Coder vocabulary: {exc} (`python -m bench peer` fetches it)"}
    return rewrites.on_renames(cases, files, vocabulary)


def _repeat_figures(s: dict[str, Any]) -> str:
    return f"exact {_pct(s['exact_pct'])}, recall {_pct(s['recall_pct'])}, wrong {_pct(s['wrong_pct_of_suggestions'])}"


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _met(value: float | None, test: Any) -> str:
    return "—" if value is None else "yes" if test(value) else "**no**"
