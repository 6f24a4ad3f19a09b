"""The lean greedy decode loop over llama.cpp, with optional speculative drafts.

Each step the target decodes the token it just chose plus a draft of guesses in one
batch, with logits for every row; row i is the target's own choice after the i-th token,
so a guess is accepted only while it equals that choice, and the first disagreement is
replaced by the target's token. Output is therefore exactly plain greedy decoding. The
rejected guesses' KV positions are trimmed right away.

The log-probability of each chosen token comes from the same logits (one log-sum-exp per
token), for the completion's confidence.

``greedy_steps`` is the reference loop for one sequence (the model card, the benchmarks,
the tests); the server runs the same rules for many generations at once in ``batching``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..prompt.healing import heal_step
from .llama import LlamaSession
from .speculative import Speculator
from .vocabulary import Vocabulary


@dataclass(frozen=True, slots=True)
class Step:
    token: int
    piece: bytes
    logprob: float


@dataclass
class DecodeCounters:
    forwards: int = 0  # target decode calls after the prompt
    drafted: int = 0
    accepted: int = 0


def logprob(row: np.ndarray, token: int) -> float:
    top = float(row.max())
    return float(row[token]) - top - float(np.log(np.exp(row - top).sum()))


def greedy_logprobs(rows: np.ndarray, tokens: np.ndarray) -> list[float]:
    """The log-probability of each row's greedy token (``tokens``: each row's argmax), all rows
    in one pass: the top logit is the token's own, so no search for the maximum. This runs
    after every forward pass, when the caches are cold from the weights: fewer numpy calls
    is what makes it cheap."""
    tops = rows[np.arange(len(tokens)), tokens]
    return [-float(x) for x in np.log(np.exp(rows - tops[:, None]).sum(axis=1))]


def choose(session: LlamaSession, vocabulary: Vocabulary, pending: bytes, row: int = -1) -> tuple[int, float]:
    """The greedy token after a decoded position (the last one, or batch ``row``), spelling
    ``pending`` first; and its log-probability."""
    if pending:
        token = session.argmax(vocabulary.healing.candidates(pending), row)
        return token, logprob(session.logits(row), token)
    logits = session.logits(row)
    token = int(logits.argmax())
    return token, -float(np.log(np.exp(logits - logits[token]).sum()))  # its logit is the top one


def greedy_steps(
    session: LlamaSession,
    vocabulary: Vocabulary,
    prompt: list[int],
    seq: int = 0,
    heal: bytes = b"",
    speculator: Speculator | None = None,
    counters: DecodeCounters | None = None,
) -> Iterator[Step]:
    """Greedy steps after ``prompt`` (already decoded into ``seq``); the first ones spell
    ``heal``. The caller stops by no longer asking: a token is decoded only when the next
    one is asked for, and the KV state always matches ``session.sequences[seq]``."""
    counters = counters or DecodeCounters()
    history = session.sequences[seq]
    context = list(prompt)  # prompt + generated, for the drafters (grows only)
    if speculator is not None:
        speculator.start(context)
    pending = heal
    token, token_logprob = choose(session, vocabulary, pending)
    while True:
        piece = session.piece(token)
        pending = heal_step(pending, piece)
        yield Step(token, piece, token_logprob)
        context.append(token)
        drafter, draft = None, list[int]()
        if speculator is not None and not pending:  # healing constrains choices: no drafts then
            drafter, draft = speculator.propose(context, session.n_ctx - len(history) - 1)
        counters.forwards += 1
        if drafter is None or speculator is None:
            session.decode([token], seq)
            token, token_logprob = choose(session, vocabulary, pending)
            continue
        base = len(history)
        session.decode([token, *draft], seq, all_logits=True)
        rows = session.all_logits()
        choices = rows.argmax(axis=1)
        accepted = 0
        while accepted < len(draft) and choices[accepted] == draft[accepted]:
            accepted += 1
        logprobs = greedy_logprobs(rows[: accepted + 1], choices[: accepted + 1])
        session.keep(base + 1 + accepted, seq)
        speculator.feedback(drafter, len(draft), accepted)
        counters.drafted += len(draft)
        counters.accepted += accepted
        for i in range(accepted):
            guess = draft[i]
            yield Step(guess, session.piece(guess), logprobs[i])
            context.append(guess)
        token, token_logprob = int(choices[accepted]), logprobs[accepted]
