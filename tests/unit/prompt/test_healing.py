import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copilot.inference.decoding import greedy_steps
from copilot.inference.llama import LlamaSession
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from copilot.prompt.fim import build_fim_prompt
from copilot.prompt.healing import MAX_HEAL_BYTES, HealingIndex, half_typed_word, heal_step, split_heal

PIECES = [b"", b"p", b"pa", b"path", b"pat", b"x", b"pathlib", b"a", b"th"]


def test_candidates_agree_with_what_is_left_of_the_anchor() -> None:
    index = HealingIndex(PIECES)
    assert sorted(index.candidates(b"pat").tolist()) == [1, 2, 3, 4, 6]  # p, pa, pat; path, pathlib
    assert sorted(index.candidates(b"th").tolist()) == [8]
    assert index.candidates(b"q").size == 0
    assert 0 not in index.candidates(b"").tolist()  # a control token never heals


def _reference(pieces: list[bytes], pending: bytes) -> list[int]:
    return [t for t, p in enumerate(pieces) if p and (pending.startswith(p) or p.startswith(pending))]


_BLANKS = [blank * n for blank in (b" ", b"\t") for n in range(1, MAX_HEAL_BYTES + 1)]
# Small alphabets so that pieces often share prefixes: 0xff edges, UTF-8, blanks, duplicates.
_BYTES = st.sampled_from(b"ab \t\n\x00\xfe\xff").map(lambda b: bytes((b,)))
_CHUNKS = _BYTES | st.sampled_from(["é".encode(), "€".encode(), "😀".encode(), b"  ", b"\t\t", b"\xff\xff"])
_STRINGS = st.lists(_CHUNKS, max_size=6).map(b"".join)
_PIECES = st.lists(_STRINGS | st.sampled_from([*_BLANKS, b""]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(pieces=_PIECES, pendings=st.lists(_STRINGS | st.sampled_from(_BLANKS), min_size=1, max_size=8))
def test_candidates_match_a_brute_force_reference(pieces: list[bytes], pendings: list[bytes]) -> None:
    index = HealingIndex(pieces)
    for pending in pendings + pendings:  # the second round comes from the memo
        found = index.candidates(pending)
        assert found.dtype == np.intc
        assert sorted(found.tolist()) == _reference(pieces, pending), pending  # no repeats either
        assert not found.flags.writeable


@settings(max_examples=50, deadline=None)
@given(pieces=_PIECES)
def test_precomputed_blank_runs_match_the_reference(pieces: list[bytes]) -> None:
    index = HealingIndex(pieces + _BLANKS[::3])
    for blank in _BLANKS:
        assert sorted(index.candidates(blank).tolist()) == _reference(pieces + _BLANKS[::3], blank)


def test_results_are_read_only_and_repeated_anchors_are_remembered() -> None:
    pieces = [b"", b" ", b"  ", b" x", b"\t", b"\t\t", b"x", b"xy", b"\xff", b"\xff\xff", b"\xffa", b" x"]
    index = HealingIndex(pieces)
    assert sorted(index.candidates(b" ").tolist()) == [1, 2, 3, 11]
    assert sorted(index.candidates(b"\t\t").tolist()) == [4, 5]
    assert sorted(index.candidates(b"\xff").tolist()) == [8, 9, 10]  # no upper bound past 0xff
    assert sorted(index.candidates(b"\xff\xffz").tolist()) == [8, 9]
    for pending in (b" ", b"    ", b"\t", b"x", b"xyz", b"q"):
        found = index.candidates(pending)
        assert not found.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            found[...] = 0
        assert index.candidates(pending) is found  # precomputed or remembered
    assert sorted(index.candidates(b"xyz").tolist()) == [6, 7]


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
