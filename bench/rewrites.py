"""How much prompt-lookup drafting can carry of a next-edit rewrite, without a model.

A next-edit model rewrites the lines around the cursor, and its answer is mostly those
lines again (the prompt holds them twice: before the recent changes and now). With no
next-edit model on this machine, the model's answer is replaced by the answer it should give
(the lines with the expected edits applied), and the engine's own drafter
(``PromptLookup``) is run over it as the decode loop runs it: each target forward verifies a
draft of up to ``k`` tokens, keeps what agrees and adds one token of its own. Reported: the
answer's tokens per target forward, the figure speculation multiplies decoding by when a
verify pass costs what a one-token pass costs (a GPU; on a CPU a pass of k+1 rows costs more:
``bench speculative`` measures that cost).
"""

from __future__ import annotations

from copilot.inference.speculative import PromptLookup


def tokens_per_forward(prompt: list[int], answer: list[int], k: int = 8) -> tuple[int, int]:
    """(tokens, target forwards) to decode ``answer`` after ``prompt`` with lookup drafts of
    up to ``k`` tokens, when the target's greedy choice is always the answer's next token."""
    lookup = PromptLookup()
    lookup.start(prompt)
    context = list(prompt)
    done = forwards = 0
    while done < len(answer):
        draft = lookup.propose(context, min(k, len(answer) - done - 1)) if done < len(answer) - 1 else []
        accepted = 0
        while accepted < len(draft) and draft[accepted] == answer[done + accepted]:
            accepted += 1
        step = min(accepted + 1, len(answer) - done)
        context += answer[done : done + step]
        done += step
        forwards += 1
    return len(answer), forwards
