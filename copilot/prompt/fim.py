"""Fill-in-the-middle prompts built from the model's own FIM token ids.

Two layouts, named as in the FIM paper (Bavarian et al., 2022):
- PSM ``<fim_prefix> prefix <fim_suffix> suffix <fim_middle>`` (Qwen2.5-Coder, StarCoder2...);
- SPM ``<fim_suffix> suffix <fim_prefix> prefix <fim_middle>``: the text right before the
  cursor sits right before the answer, which a small model learns far faster, and the part
  that changes as the user types (the end of the prefix) comes last, so the KV cache of the
  previous keystroke covers everything before it.
The model writes the middle. Token ids come from the GGUF metadata, never hard-coded.

Context from elsewhere (other files, definitions, similar code) goes before the local text,
in one of two forms:
- ``repo``: the repository-level form of models trained with it (Qwen2.5-Coder, StarCoder2):
  ``<repo_name>name <file_sep>path code ... <file_sep>current path`` and then the FIM part;
- ``comments``: for any other model, each snippet as comment lines at the start of the
  prefix (as GitHub Copilot does), which a model reads as ordinary code comments.
Either way it is placed before the text that changes while typing and in a stable order.
"""

from __future__ import annotations

from typing import Literal

import msgspec

TEMPLATE_VERSION = 4  # part of every cache key: bump when a layout below changes

FimOrder = Literal["psm", "spm"]
SnippetStyle = Literal["repo", "comments"]


class FimTokens(msgspec.Struct, frozen=True, kw_only=True):
    prefix: int
    suffix: int
    middle: int
    order: FimOrder = "psm"
    file_sep: int = -1  # repository-level tokens; -1 when the model has none
    repo_name: int = -1
    bos: int = -1  # the first token of every prompt, for models that ask for one (DeepSeek-Coder)

    @property
    def has_repo_tokens(self) -> bool:
        return self.file_sep >= 0 and self.repo_name >= 0


def build_fim_prompt(
    fim: FimTokens,
    prefix: list[int],
    suffix: list[int],
    context: list[int] | None = None,
    preamble: list[int] | None = None,
) -> list[int]:
    """``preamble`` (repository-level snippets) comes before the FIM part, ``context``
    (comment snippets) at the start of the prefix section."""
    before, inside = [*([fim.bos] if fim.bos >= 0 else []), *(preamble or [])], context or []
    if fim.order == "spm":
        return [*before, fim.suffix, *suffix, fim.prefix, *inside, *prefix, fim.middle]
    return [*before, fim.prefix, *inside, *prefix, fim.suffix, *suffix, fim.middle]


def comment_snippet(path: str, text: str, comment: str) -> str:
    """A snippet from ``path`` as comment lines (one for the path, one per line of code)."""
    lines = "".join(f"{comment} {line}".rstrip() + "\n" for line in text.split("\n"))
    return f"{comment} {path}\n{lines}"


def repo_snippet_text(path: str, text: str) -> str:
    """The text after a ``<file_sep>`` token: the path, then the file's (partial) content."""
    return f"{path}\n{text}\n"
