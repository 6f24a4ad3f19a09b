from pathlib import Path

import pytest

from copilot.inference.catalogue import families
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from copilot.prompt.fim import FimTokens, build_fim_prompt, comment_snippet, repo_snippet_text
from copilot.prompt.window import Encoder, local_window

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


# --- every family of the model catalogue, and context snippets --------------------------------

FAMILIES = families()


def test_the_catalogue_lists_the_families_the_server_supports() -> None:
    names = {family.name for family in FAMILIES.values()}
    for expected in ("Qwen2.5-Coder", "StarCoder2", "DeepSeek-Coder", "CodeLlama", "CodeGemma", "Codestral"):
        assert expected in names


@pytest.mark.parametrize("key", sorted(FAMILIES))
def test_each_familys_fim_template(key: str) -> None:
    """The prompt, spelled out with the family's token names, is its documented template."""
    family = FAMILIES[key]
    names = [family.fim_prefix, family.fim_suffix, family.fim_middle, family.repo_name, family.file_sep]
    ids = {name: 1000 + i for i, name in enumerate(names) if name}
    fim = FimTokens(
        prefix=ids[family.fim_prefix],
        suffix=ids[family.fim_suffix],
        middle=ids[family.fim_middle],
        order=family.order,
        file_sep=ids.get(family.file_sep, -1),
        repo_name=ids.get(family.repo_name, -1),
    )
    spelled = {v: k for k, v in ids.items()}

    def text(tokens: list[int]) -> str:
        return "".join(spelled.get(t, chr(t)) for t in tokens)

    prompt = text(build_fim_prompt(fim, char_tokens("P"), char_tokens("S")))
    p, s, m = family.fim_prefix, family.fim_suffix, family.fim_middle
    assert prompt == (f"{s}S{p}P{m}" if family.order == "spm" else f"{p}P{s}S{m}")
    if family.repo_name and family.file_sep:
        assert fim.has_repo_tokens
        preamble = [fim.repo_name, *char_tokens("repo\n"), fim.file_sep, *char_tokens(repo_snippet_text("a.py", "x"))]
        with_repo = text(build_fim_prompt(fim, char_tokens("P"), char_tokens("S"), preamble=preamble))
        assert with_repo == f"{family.repo_name}repo\n{family.file_sep}a.py\nx\n" + prompt


@pytest.mark.parametrize("order", ["psm", "spm"])
def test_comment_context_sits_at_the_start_of_the_prefix_section(order: str) -> None:
    fim = FimTokens(prefix=101, suffix=103, middle=102, order=order)  # type: ignore[arg-type]
    prompt = build_fim_prompt(fim, [1], [3], context=[7, 8])
    start = prompt.index(101)
    assert prompt[start : start + 4] == [101, 7, 8, 1]


def test_comment_snippet_comments_every_line_and_names_the_file() -> None:
    assert comment_snippet("pkg/util.py", "def f():\n    return 1\n", "#") == (
        "# pkg/util.py\n# def f():\n#     return 1\n#\n"
    )
    assert comment_snippet("a.go", "func F() {}", "//").startswith("// a.go\n// func F() {}")


# --- the remembering encoder against the model's own tokenizer ----------------------------------


def test_the_encoder_tokenizes_like_the_model_and_remembers() -> None:
    """Split where the pre-tokenizer splits, the two parts tokenize as the whole text does
    (blank lines, trailing blanks, column-0 lines included); a line count equals the tokens
    of the line with its newline."""
    vocabulary = Vocabulary(DEFAULT_MODEL_PATH)
    calls: list[str] = []

    def encode(text: str) -> list[int]:
        calls.append(text)
        return vocabulary.encode(text)

    encoder = Encoder(encode)
    source = Path(local_window.__code__.co_filename).read_text()
    lines = source.split("\n")
    lines[12] += "  "  # a trailing blank
    for end in range(10, len(lines), 3):
        for last in ("    x = fo", "x = fo", "    ", ""):
            text = "\n".join(lines[:end]) + "\n" + last
            assert encoder(text) == vocabulary.encode(text), (end, last)
    typed = "\n".join(lines[:40]) + "\n    valu"
    encoder(typed)
    calls.clear()
    encoder(typed + "e")  # one more key on the same line: only that line (and, to check the
    assert calls[-1] == " value"  # cut, the line before it) is tokenized, not the 40 before
    assert max(map(len, calls)) <= len(lines[39]) + len("\n    value")
    assert encoder.line_tokens("    return x") == len(vocabulary.encode("    return x\n"))
