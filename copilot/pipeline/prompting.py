"""The prompt for a request: context retrieved from outside the local window, then the
window around the cursor, in the model family's FIM layout; and its exact cache key.

The retrieved context gets at most ``context.crossfile_share`` of the budget and the window
the rest (all of it when nothing was retrieved), so the window's size does not depend on
how much context was found and stays put while the user types. What changes least comes
first, so that consecutive prompts share a long token prefix (KV reuse).
"""

from __future__ import annotations

import msgspec

from ..cache import GenerationParams, exact_key
from ..config import MIN_PROMPT_TOKENS, PROMPT_MARGIN, Config
from ..context.ranking import Candidate, Span
from ..context.retrieval import EMPTY, Retrieved, Retriever
from ..documents import Snapshot
from ..inference import Tokenizer
from ..prompt.fim import build_fim_prompt
from ..prompt.healing import split_heal
from ..prompt.window import Encoder, Window, local_window


class Prompt(msgspec.Struct, frozen=True, kw_only=True):
    tokens: list[int]
    key: bytes  # the exact cache key: model, tokens, parameters, the anchor to heal
    heal: str  # the half-typed word left out of the prompt, for the model to spell (token healing)
    retrieved: Retrieved


class CandidateReport(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    path: str
    lines: tuple[int, int]  # 1-based, inclusive
    score: float
    reason: str
    chosen: bool = False
    text: str = ""  # for the snippets in the prompt


class ContextReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the model would be given at a cursor (``copilot-lsp context``, ``copilot/inspect``)."""

    ignored: str | None  # the ignore file or rule that keeps this document out of prompts
    style: str = ""
    prompt_tokens: int = 0
    context_tokens: int = 0
    heal: str = ""
    candidates: list[CandidateReport] = []  # every candidate, with its score and whether it was chosen
    snippets: list[CandidateReport] = []  # the chosen ones, with their text
    prompt: str = ""  # spelled out


class PromptBuilder:
    def __init__(self, config: Config, vocabulary: Tokenizer, n_ctx: int, retriever: Retriever | None = None) -> None:
        self.config = config
        self.vocabulary = vocabulary
        self.n_ctx = n_ctx
        self.retriever = retriever
        self._encode = Encoder(vocabulary.encode)  # the tokenizer, with memory

    def build(self, snapshot: Snapshot, params: GenerationParams, reuse: Retrieved | None = None) -> Prompt:
        """The prompt at ``snapshot``'s cursor; ``reuse``: context already retrieved (the
        prefetch's, whose text is not the document's), instead of retrieving it again."""
        settings = self.config.completion
        budget = max(MIN_PROMPT_TOKENS, min(settings.prompt_tokens, self.n_ctx - settings.max_tokens - PROMPT_MARGIN))
        prefix, heal = split_heal(snapshot.prefix)
        suffix = snapshot.suffix
        retrieved = reuse or EMPTY
        if self.retriever is not None:
            share = int(budget * self.config.context.crossfile_share)
            window = local_window(prefix, suffix, budget - share, settings.suffix_share, self._encode)
            if reuse is None:
                retrieved = self.retriever.retrieve(snapshot, _window_span(snapshot.uri, prefix, suffix, window), share)
        if not retrieved.snippets:
            retrieved = EMPTY
            window = local_window(prefix, suffix, budget, settings.suffix_share, self._encode)
        tokens = build_fim_prompt(
            self.vocabulary.fim, window.prefix, window.suffix, context=retrieved.context, preamble=retrieved.preamble
        )
        key = exact_key(self.vocabulary.id, tokens, params, heal)
        return Prompt(tokens=tokens, key=key, heal=heal, retrieved=retrieved)

    def report(self, snapshot: Snapshot, params: GenerationParams) -> ContextReport:
        """Every context candidate with its score and whether it was chosen, and the prompt spelled out."""
        ignored = self.retriever.ignored(snapshot.uri) if self.retriever is not None else None
        if ignored is not None:
            return ContextReport(ignored=ignored)
        prompt = self.build(snapshot, params)
        retrieved = prompt.retrieved
        chosen = {(c.uri, c.kind, c.start_line) for c in retrieved.snippets}
        return ContextReport(
            ignored=None,
            style=retrieved.style,
            prompt_tokens=len(prompt.tokens),
            context_tokens=retrieved.tokens,
            heal=prompt.heal,
            candidates=[_report(c, chosen=(c.uri, c.kind, c.start_line) in chosen) for c in retrieved.pool],
            snippets=[_report(c, chosen=True, text=c.text) for c in retrieved.snippets],
            prompt=self.vocabulary.detokenize(prompt.tokens),
        )


def _report(candidate: Candidate, chosen: bool, text: str = "") -> CandidateReport:
    return CandidateReport(
        kind=candidate.kind,
        path=candidate.path,
        lines=(candidate.start_line + 1, candidate.end_line + 1),
        score=candidate.score,
        reason=candidate.reason,
        chosen=chosen,
        text=text,
    )


def _window_span(uri: str, prefix: str, suffix: str, window: Window) -> Span:
    """The lines of the document the local window shows."""
    cursor_line = prefix.count("\n")
    return Span(
        uri=uri,
        start_line=cursor_line - prefix.count("\n", len(prefix) - window.prefix_chars),
        end_line=cursor_line + suffix.count("\n", 0, window.suffix_chars),
    )


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens two prompts share."""
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count
