import numpy as np
import pytest

from copilot.inference.decoding import greedy_steps
from copilot.inference.llama import LlamaSession
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from copilot.prompt.fim import build_fim_prompt
from copilot.prompt.healing import HealingIndex, half_typed_word, heal_step, split_heal

PIECES = [b"", b"p", b"pa", b"path", b"pat", b"x", b"pathlib", b"a", b"th"]


def test_candidates_agree_with_what_is_left_of_the_anchor() -> None:
    index = HealingIndex(PIECES)
    assert sorted(index.candidates(b"pat").tolist()) == [1, 2, 3, 4, 6]  # p, pa, pat; path, pathlib
    assert sorted(index.candidates(b"th").tolist()) == [8]
    assert index.candidates(b"q").size == 0
    assert 0 not in index.candidates(b"").tolist()  # a control token never heals


@pytest.mark.parametrize(
    ("pending", "piece", "left"), [(b"path", b"pa", b"th"), (b"pa", b"path", b""), (b"pa", b"pa", b"")]
)
def test_heal_step(pending: bytes, piece: bytes, left: bytes) -> None:
    assert heal_step(pending, piece) == left


@pytest.mark.parametrize(
    ("prefix", "prompt_prefix", "anchor"),
    [("x = os.pa", "x = os.", "pa"), ("call(", "call(", ""), ("a\n" + " " * 40, "a\n" + " " * 40, "")],
)
def test_split_heal_leaves_long_anchors_in_the_prompt(prefix: str, prompt_prefix: str, anchor: str) -> None:
    assert split_heal(prefix) == (prompt_prefix, anchor)


@pytest.mark.parametrize(
    ("text", "word"),
    [("x = os.pa", "pa"), ("value = compute(x1, y2", "y2"), ("x = foo ", ""), ("call(", ""), ("", ""), ("$el", "$el")],
)
def test_half_typed_word_is_the_anchor_unless_blanks_end_it(text: str, word: str) -> None:
    assert half_typed_word(text) == word


def test_healed_generation_spells_the_anchor_first() -> None:
    vocabulary = Vocabulary(DEFAULT_MODEL_PATH)
    session = LlamaSession(DEFAULT_MODEL_PATH, n_ctx=512, n_batch=512, n_threads=2, n_gpu_layers=0)
    try:
        for anchor in ("impo", "retu", "sel", "    "):
            prompt = build_fim_prompt(vocabulary.fim, vocabulary.encode("import os\n\n\ndef f(self):\n"), [])
            session.keep(0)
            session.decode(prompt)
            written = b""
            steps = greedy_steps(session, vocabulary, prompt, heal=anchor.encode())
            for step, _ in zip(steps, range(12), strict=False):
                assert step.token not in vocabulary.stop_tokens or len(written) >= len(anchor)
                written += step.piece
            assert written.startswith(anchor.encode()), (anchor, written)
    finally:
        session.close()


def test_argmax_among_candidates_picks_the_best_of_them() -> None:
    session = LlamaSession(DEFAULT_MODEL_PATH, n_ctx=64, n_batch=64, n_threads=2, n_gpu_layers=0)
    try:
        session.decode([1, 2, 3])
        logits = session.logits().copy()
        among = np.asarray([5, 9, 11], dtype=np.intc)
        assert session.argmax(among) == int(among[logits[among].argmax()])
        assert session.argmax() == int(logits.argmax())
    finally:
        session.close()
