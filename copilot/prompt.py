"""Fill-in-the-middle prompts built from the model's own FIM token ids.

Layout (PSM, as Qwen2.5-Coder, StarCoder2 and the default model are trained):
``<fim_prefix> prefix <fim_suffix> suffix <fim_middle>``; the model writes the middle.
The ids come from the GGUF metadata, never from hard-coded numbers.
"""

from __future__ import annotations

import msgspec

TEMPLATE_VERSION = 1  # part of every cache key: bump when the layout below changes


class FimTokens(msgspec.Struct, frozen=True, kw_only=True):
    prefix: int
    suffix: int
    middle: int


def build_fim_prompt(fim: FimTokens, prefix: list[int], suffix: list[int]) -> list[int]:
    return [fim.prefix, *prefix, fim.suffix, *suffix, fim.middle]
