"""The chosen context as prompt tokens: what the retriever hands the prompt (``Retrieved``).

From a ranked pool of candidates and a token budget, the snippets of the previous selection
that are still candidates keep their place (so the prompt's leading tokens stay the same),
then the best of the rest are packed in a stable order (``ranking``). The snippets are
written in the model's style, repository-level tokens (``<repo_name>``/``<file_sep>``) or
comment lines at the start of the prefix, and counted in the model's own tokens.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import msgspec

from ..languages import line_comment
from ..prompt.fim import FimTokens, SnippetStyle, comment_snippet, repo_snippet_text
from ..prompt.window import Tokenize
from .ranking import Candidate, Render, pack, stable_order

TOKEN_CACHE = 1024  # snippet texts whose tokens are kept


class Retrieved(msgspec.Struct, frozen=True, kw_only=True):
    style: SnippetStyle
    snippets: list[Candidate]  # chosen, in prompt order
    pool: list[Candidate]  # every deduplicated candidate, best first (for the inspector)
    preamble: list[int]  # tokens before the FIM part (repository-level form)
    context: list[int]  # tokens at the start of the prefix section (comment form)

    @property
    def tokens(self) -> int:
        return len(self.preamble) + len(self.context)


EMPTY = Retrieved(style="comments", snippets=[], pool=[], preamble=[], context=[])


class Renderer:
    """Chooses and writes the snippets in one style; the tokens of each text are cached."""

    def __init__(self, tokenize: Tokenize, fim: FimTokens, style: SnippetStyle, root: Path | None) -> None:
        self.tokenize = tokenize
        self.fim = fim
        self.style = style
        self.root = root
        self._tokens: OrderedDict[str, list[int]] = OrderedDict()

    def _encode(self, text: str) -> list[int]:
        tokens = self._tokens.get(text)
        if tokens is None:
            tokens = self._tokens[text] = self.tokenize(text)
            if len(self._tokens) > TOKEN_CACHE:
                self._tokens.popitem(last=False)
        return tokens

    def render(
        self, pool: list[Candidate], budget: int, kept: list[Candidate], path: str, language_id: str
    ) -> Retrieved:
        """The context for a document at ``path`` (as the prompt shows it) in ``language_id``."""
        if self.style == "repo":
            root_name = self.root.name if self.root is not None else "workspace"
            head = [self.fim.repo_name, *self._encode(f"{root_name}\n")]
            tail = [self.fim.file_sep, *self._encode(f"{path}\n")]

            def render(c: Candidate) -> list[int]:
                return [self.fim.file_sep, *self._encode(repo_snippet_text(c.path, c.text))]

            # The FIM part is the current file's section: its own snippets would head it twice.
            others = [c for c in pool if c.path != path]
            chosen = choose(others, budget - len(head) - len(tail), render, kept)
            body = self._files(chosen)
            return Retrieved(style="repo", snippets=chosen, pool=pool, preamble=[*head, *body, *tail], context=[])

        comment = line_comment(language_id)

        def render_comment(c: Candidate) -> list[int]:
            return self._encode(comment_snippet(c.path, c.text, comment))

        chosen = choose(pool, budget, render_comment, kept)
        context = [token for c in chosen for token in render_comment(c)]
        return Retrieved(style="comments", snippets=chosen, pool=pool, preamble=[], context=context)

    def _files(self, chosen: list[Candidate]) -> list[int]:
        """One ``<file_sep>path`` section per file, its snippets in line order, files in the
        order of their first snippet. Each snippet was counted with a header of its own, so
        the sections fit the budget."""
        by_file: dict[str, list[Candidate]] = {}
        for candidate in chosen:
            by_file.setdefault(candidate.path, []).append(candidate)
        tokens: list[int] = []
        for file, snippets in by_file.items():
            text = "\n\n".join(c.text for c in sorted(snippets, key=lambda c: c.start_line))
            tokens += [self.fim.file_sep, *self._encode(repo_snippet_text(file, text))]
        return tokens


def _identity(candidate: Candidate) -> tuple[str, str, int]:
    return candidate.uri, candidate.kind, candidate.start_line


def choose(pool: list[Candidate], budget: int, render: Render, kept: list[Candidate]) -> list[Candidate]:
    """The snippets for the prompt: those of the previous selection that are still
    candidates, as they were and where they were (so the prompt's leading tokens stay the
    same), then the best of the rest in a stable order."""
    current = {_identity(c) for c in pool}
    still = [c for c in kept if _identity(c) in current]
    while still and sum(len(render(c)) for c in still) > budget:
        still.pop()
    taken = {_identity(c) for c in still}
    left = budget - sum(len(render(c)) for c in still)
    return still + stable_order(pack([c for c in pool if _identity(c) not in taken], left, render))
