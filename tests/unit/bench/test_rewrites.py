"""The model-free measure of lookup drafting on rewrites."""

from __future__ import annotations

from bench.rewrites import tokens_per_forward


def test_an_answer_that_copies_the_prompt_takes_few_forwards() -> None:
    block = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]
    prompt = [1, 2, *block, 3, 10, 11]  # the block, then the answer's first tokens as its prefill
    tokens, forwards = tokens_per_forward(prompt, block[2:], k=8)
    assert tokens == 10
    assert forwards == 2  # 8 drafted and accepted + 1, then the last one


def test_an_answer_never_seen_takes_one_forward_per_token() -> None:
    tokens, forwards = tokens_per_forward([1, 2, 3], [7, 8, 9, 7, 6], k=8)
    assert (tokens, forwards) == (5, 5)
