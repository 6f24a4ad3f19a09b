"""Fill-in-the-middle prompts built from the model's own FIM token ids.

Two layouts, named as in the FIM paper (Bavarian et al., 2022):
- PSM ``<fim_prefix> prefix <fim_suffix> suffix <fim_middle>`` (Qwen2.5-Coder, StarCoder2...);
- SPM ``<fim_suffix> suffix <fim_prefix> prefix <fim_middle>``: the text right before the
  cursor sits right before the answer, which a small model learns far faster, and the part
  that changes as the user types (the end of the prefix) comes last, so the KV cache of the
  previous keystroke covers everything before it.
The model writes the middle. Token ids come from the GGUF metadata, never hard-coded.
"""

from __future__ import annotations

from typing import Literal

import msgspec

TEMPLATE_VERSION = 2  # part of every cache key: bump when a layout below changes

FimOrder = Literal["psm", "spm"]


class FimTokens(msgspec.Struct, frozen=True, kw_only=True):
    prefix: int
    suffix: int
    middle: int
    order: FimOrder = "psm"


def build_fim_prompt(fim: FimTokens, prefix: list[int], suffix: list[int]) -> list[int]:
    if fim.order == "spm":
        return [fim.suffix, *suffix, fim.prefix, *prefix, fim.middle]
    return [fim.prefix, *prefix, fim.suffix, *suffix, fim.middle]
