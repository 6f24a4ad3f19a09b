from copilot.context import local_window
from copilot.prompt import FimTokens, build_fim_prompt

FIM = FimTokens(prefix=101, suffix=103, middle=102)


def char_tokens(text: str) -> list[int]:
    """One token per character: makes budgets easy to reason about."""
    return [ord(c) for c in text]


def test_fim_prompt_is_prefix_suffix_middle_with_the_models_ids() -> None:
    assert build_fim_prompt(FIM, [1, 2], [3]) == [101, 1, 2, 103, 3, 102]


def test_spm_prompt_puts_the_suffix_first_and_the_prefix_next_to_the_answer() -> None:
    spm = FimTokens(prefix=101, suffix=103, middle=102, order="spm")
    assert build_fim_prompt(spm, [1, 2], [3]) == [103, 3, 101, 1, 2, 102]


def test_fim_prompt_with_empty_parts_keeps_all_markers() -> None:
    assert build_fim_prompt(FIM, [], []) == [101, 103, 102]


def test_window_keeps_everything_that_fits() -> None:
    window = local_window("ab\ncd", "ef\n", budget=100, suffix_share=0.5, tokenize=char_tokens)
    assert window.prefix == char_tokens("ab\ncd")
    assert window.suffix == char_tokens("ef\n")


def test_window_drops_whole_lines_far_from_the_cursor() -> None:
    prefix = "".join(f"line{i}\n" for i in range(100)) + "cur"
    window = local_window(prefix, "", budget=40, suffix_share=0.25, tokenize=char_tokens)
    text = "".join(map(chr, window.prefix))
    assert len(window.prefix) <= 40
    assert text.endswith("line99\ncur")
    assert text.startswith("line")  # cut at a line start, not mid-line
    assert window.prefix_chars == len(text)


def test_suffix_gets_at_most_its_share_and_prefix_takes_the_rest() -> None:
    prefix = "p" * 10 + "\n" + "q" * 10
    suffix = "".join(f"s{i}\n" for i in range(50))
    window = local_window(prefix, suffix, budget=30, suffix_share=0.25, tokenize=char_tokens)
    assert len(window.suffix) <= 7
    assert "".join(map(chr, window.suffix)).startswith("s0\n")
    assert len(window.prefix) + len(window.suffix) <= 30


def test_unused_suffix_budget_goes_to_the_prefix() -> None:
    prefix = "".join(f"{i:03d}\n" for i in range(20))  # 80 characters
    window = local_window(prefix, "", budget=80, suffix_share=0.5, tokenize=char_tokens)
    assert len(window.prefix) == 80


def test_a_single_line_longer_than_the_budget_is_cut_inside() -> None:
    window = local_window("x" * 500, "", budget=50, suffix_share=0.25, tokenize=char_tokens)
    assert 0 < len(window.prefix) <= 50
