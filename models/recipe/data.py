"""Training corpus (Python sources on this machine) and fill-in-the-middle examples.

The corpus is the Python standard library of the interpreter running the recipe: present on
every machine, permissively licensed, and never part of the evaluation data. A fixed,
path-hashed share of files is held out for measuring quality.
"""

from __future__ import annotations

import hashlib
import random
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from copilot.prompt.fim import FimOrder, FimTokens, build_fim_prompt

from .tokenizer import ENDOFTEXT, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, special_id

MAX_FILE_BYTES = 400_000
HELD_OUT_PERCENT = 3


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def is_held_out(relative_path: str) -> bool:
    digest = hashlib.sha256(relative_path.encode()).digest()
    return digest[0] * 100 // 256 < HELD_OUT_PERCENT


def load_corpus(root: Path, held_out: bool) -> list[str]:
    """Source texts under ``root`` (sorted, so the recipe is reproducible)."""
    texts = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if "site-packages" in relative or is_held_out(relative) != held_out:
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            continue
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
    return texts


@dataclass(frozen=True)
class FimSplit:
    prefix: str
    middle: str
    suffix: str


def split_for_fim(text: str, rng: random.Random) -> FimSplit:
    """Cut ``text`` into prefix/middle/suffix the way an editor cursor does.

    Half the time the middle runs from a random point to the end of a line, a few lines
    down (completing the current line or block); otherwise it is a random span.
    """
    start = rng.randrange(len(text))
    if rng.random() < 0.5:
        end = start
        for _ in range(1 + min(int(rng.expovariate(0.7)), 8)):
            newline = text.find("\n", end)
            end = len(text) if newline < 0 else newline + 1
            if end >= len(text):
                break
        end = max(start, end - 1) if text[end - 1 : end] == "\n" and rng.random() < 0.5 else end
    else:
        end = min(len(text), start + rng.randrange(1, 256))
    return FimSplit(text[:start], text[start:end], text[end:])


class ExampleSampler:
    """Endless token sequences of length ``seq_len + 1``: FIM (in the server's own prompt
    layout, from ``copilot.prompt``) or plain text."""

    def __init__(
        self, texts: list[str], tokenizer: Tokenizer, seq_len: int, fim_rate: float, seed: int, fim_order: FimOrder
    ):
        self.texts = texts
        self.weights = [len(t) for t in texts]
        self.tokenizer = tokenizer
        self.seq_len = seq_len
        self.fim_rate = fim_rate
        self.rng = random.Random(seed)
        self.ids = {name: special_id(tokenizer, name) for name in (ENDOFTEXT, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX)}
        self.fim = FimTokens(
            prefix=self.ids[FIM_PREFIX], suffix=self.ids[FIM_SUFFIX], middle=self.ids[FIM_MIDDLE], order=fim_order
        )

    def _chunk(self) -> str:
        text = self.rng.choices(self.texts, weights=self.weights)[0]
        span = self.seq_len * 4  # about 3.5 characters per token on code
        if len(text) <= span:
            return text
        start = self.rng.randrange(len(text) - span)
        start = text.rfind("\n", 0, start) + 1  # begin at a line, as files do
        return text[start : start + span]

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text).ids) if text else []

    def sample(self) -> list[int]:
        chunk = self._chunk()
        ids = self.ids
        if len(chunk) > 8 and self.rng.random() < self.fim_rate:
            split = split_for_fim(chunk, self.rng)
            # Keep the cursor's surroundings when the example is too long: trim the far ends.
            prefix = self._encode(split.prefix)
            suffix = self._encode(split.suffix)
            middle = self._encode(split.middle)
            room = self.seq_len + 1 - len(middle) - 5
            keep_suffix = min(len(suffix), max(room // 3, room - len(prefix)))
            keep_prefix = max(0, room - keep_suffix)
            prompt = build_fim_prompt(self.fim, prefix[len(prefix) - keep_prefix :], suffix[:keep_suffix])
            tokens = [*prompt, *middle, ids[ENDOFTEXT]]
        else:
            tokens = [*self._encode(chunk), ids[ENDOFTEXT]]
        tokens = tokens[: self.seq_len + 1]
        return tokens + [-1] * (self.seq_len + 1 - len(tokens))  # -1: ignored by the loss

    def batches(self, batch_size: int) -> Iterator[list[list[int]]]:
        while True:
            yield [self.sample() for _ in range(batch_size)]
