"""Renames typed key by key, asking for the next edit after each key."""

from __future__ import annotations

import keyword

from copilot.nextedit.rename import Replacement
from copilot.nextedit.suggest import MAX_SUGGESTIONS

from .cases import RenameCase, eligible
from .common import Editor, Examples, Tally, _example

# -- renames ---------------------------------------------------------------------------------------


def run_renames(cases: list[RenameCase], files: dict[str, str], examples: Examples) -> tuple[Tally, Tally]:
    """(eligible steps, ineligible steps)."""
    steps, other = Tally(), Tally()
    for case in cases:
        text = files[case.path]
        editor = Editor(f"file:///heldout/{case.path}", text)
        steps.cases += 1
        binding_line = text.count("\n", 0, case.binding) + 1
        partial = case.old
        for partial in editor.retype(case.binding, case.old, case.new):
            found, ms = editor.ask()
            shift = len(partial) - len(case.old)
            expected = {(at + shift if at > case.binding else at) for at in case.expected}
            wanted = {(at, at + len(case.old), partial) for at in expected}
            if not eligible(partial, case.old, case.variables):
                other.asks += 1
                other.latency_ms.append(ms)
                if found:
                    other.answered += 1
                    reason = "collides" if partial.isidentifier() and not keyword.iskeyword(partial) else "not a name"
                    other.bump(f"answered_when_{reason.replace(' ', '_')}")
                continue
            steps.asks += 1
            steps.latency_ms.append(ms)
            distance = min(abs(at - case.binding) for at in expected)
            nearest = {(at, at + len(case.old), partial) for at in expected if abs(at - case.binding) == distance}
            first = found[0] if found else None
            got = (first.start, first.end, first.new) if first else None
            steps.answered += bool(found)
            steps.exact += got in nearest
            steps.exact_any += got in wanted
            steps.location += first is not None and (first.start, first.end) in {(s, e) for s, e, _ in wanted}
            steps.suggestions += len(found)
            wrong = [r for r in found if (r.start, r.end, r.new) not in wanted]
            steps.wrong += len(wrong)
            if got not in nearest:
                if first is None:
                    why = "no suggestion"
                    if partial in case.other_words:
                        why += " (the name typed is an attribute or keyword-argument name in the function)"
                elif got in wanted:
                    why = "another expected occurrence first"
                else:
                    why = f"wrong first suggestion: {_rename_wrong(first, case, shift)}"
                steps.bump(f"miss: {why}")
                _example(examples, "rename_misses", editor, case, binding_line, partial, why, first, expected)
            for r in wrong:
                why = _rename_wrong(r, case, shift)
                steps.bump(f"wrong: {why}")
                _example(examples, "rename_wrong", editor, case, binding_line, partial, why, r, expected)
        if partial == case.new:  # the last step: recall
            steps.recall_wanted += min(len(expected), MAX_SUGGESTIONS)
            steps.recall_found += len({(r.start, r.end, r.new) for r in found} & wanted)
    return steps, other


def _rename_wrong(r: Replacement, case: RenameCase, shift: int) -> str:
    """Why a suggestion made during a rename is not one of its edits."""
    original = r.start - shift if r.start > case.binding else r.start
    if r.kind != "rename":
        return f"a {r.kind} suggestion"
    if original in case.keyword_args:
        return "a keyword argument's name"
    if not case.span[0] <= original < case.span[1]:
        return "outside the function"
    if original in case.same_line:
        return "on the line being typed"
    return "not an occurrence of the variable"
