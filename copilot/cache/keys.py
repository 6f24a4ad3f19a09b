"""Cache keys and the values they lead to. Pure functions.

Two keys per completion:
- the *exact* key hashes what decides the model's answer: model id, prompt template
  version, the packed prompt tokens and the generation parameters;
- the *context* key is cheaper and looser: it hashes the text around the cursor (a few
  lines before and after) with the line's last partial word and trailing whitespace cut
  off. That cut-off part, the *anchor*, is stored with the completion, so a later request
  whose text differs only there can still be answered: typing on, backspacing, or a
  cursor a few characters back on the same line.
"""

from __future__ import annotations

import array
import hashlib

import msgspec

from ..prompt.fim import TEMPLATE_VERSION
from ..prompt.healing import split_anchor

SCHEMA_VERSION = 2  # bump when CachedCompletion changes: the old cache is wiped on open
LINES_BEFORE = 24
LINES_AFTER = 8
MAX_KEY_CHARS = 16384  # of each side: a minified file's line is megabytes long


class GenerationParams(msgspec.Struct, frozen=True, kw_only=True):
    max_tokens: int
    max_lines: int


class CachedCompletion(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    anchor: str  # text between the context key's cut point and the cursor, when stored
    text: str  # the completion shown at the cursor
    created: float


def exact_key(model_id: str, prompt: list[int], params: GenerationParams, heal: str = "") -> bytes:
    digest = hashlib.blake2b(digest_size=20, person=b"exact")
    digest.update(f"{model_id}\0{TEMPLATE_VERSION}\0{heal}\0".encode("utf-8", "surrogatepass"))
    digest.update(msgspec.msgpack.encode(params))
    digest.update(array.array("i", prompt).tobytes())
    return digest.digest()


def context_key(model_id: str, params: GenerationParams, stem: str, suffix: str) -> bytes:
    """Hash of the lines around the cursor: ``stem`` is the text before the anchor."""
    cut = len(stem)
    for _ in range(LINES_BEFORE + 1):
        cut = stem.rfind("\n", 0, cut)
        if cut < 0:
            break
    end = -1
    for _ in range(LINES_AFTER + 1):
        end = suffix.find("\n", end + 1)
        if end < 0:
            break
    digest = hashlib.blake2b(digest_size=20, person=b"context")
    digest.update(f"{model_id}\0{TEMPLATE_VERSION}\0".encode())
    digest.update(msgspec.msgpack.encode(params))
    digest.update(stem[max(cut + 1, len(stem) - MAX_KEY_CHARS) :].encode("utf-8", "surrogatepass"))
    digest.update(b"\0\0")
    end = MAX_KEY_CHARS if end < 0 else min(end, MAX_KEY_CHARS)
    digest.update(suffix[:end].encode("utf-8", "surrogatepass"))
    return digest.digest()


def continue_from(entry: CachedCompletion, anchor: str) -> str | None:
    """What is left of ``entry`` for a cursor whose anchor is ``anchor``; None when it does
    not fit (the user typed something else, or all of it). A stored empty completion
    answers only its own cursor."""
    if not entry.text:
        return "" if anchor == entry.anchor else None
    full = entry.anchor + entry.text
    return full[len(anchor) :] if len(anchor) < len(full) and full.startswith(anchor) else None


def look_back_stems(prefix: str, limit: int) -> list[tuple[str, str]]:
    """(stem, anchor) pairs for cursors up to ``limit`` characters back on the current line,
    nearest first, each distinct: where an earlier request at the same place may be cached."""
    line_start = prefix.rfind("\n") + 1
    head, line = prefix[:line_start], prefix[line_start:]
    seen = {len(split_anchor(line)[0])}
    pairs = []
    for back in range(1, min(limit, len(line)) + 1):
        line_stem, _ = split_anchor(line[:-back])
        if len(line_stem) not in seen:
            seen.add(len(line_stem))
            pairs.append((head + line_stem, line[len(line_stem) :]))
    return pairs
