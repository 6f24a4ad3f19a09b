"""The prefix window: as much text before the cursor as the budget holds, starting on a stable line."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH
from copilot.prompt.window import START_STRIDE_LINES, Encoder, Tokenize, local_window

_IDS: dict[str, int] = {}


def word_tokens(text: str) -> list[int]:
    """Words of at most 8 characters, each other character alone: no token spans a line break,
    so a text's token count is the sum of its lines' and the tightest fit is known exactly."""
    return [_IDS.setdefault(piece, len(_IDS)) for piece in re.findall(r"\w{1,8}|\s|[^\w\s]", text)]


def line_start(text: str, offset: int) -> bool:
    return offset == 0 or text[offset - 1] == "\n"


def tightest_start(prefix: str, budget: int) -> int | None:
    """The earliest line start whose text up to the cursor fits ``budget``; None when even the
    cursor's own line does not."""
    starts = [0, *(i + 1 for i, char in enumerate(prefix) if char == "\n")]
    fitting = [start for start in starts if len(word_tokens(prefix[start:])) <= budget]
    return fitting[0] if fitting else None


line = st.text(alphabet="abcxyz_019 =(),.:", max_size=100)
lines = st.integers(1, 100).flatmap(lambda count: st.lists(line, min_size=count, max_size=count))


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    document=lines,
    budget=st.integers(1, 300),
    suffix_share=st.sampled_from([0.0, 0.25, 0.5]),
    remembering=st.booleans(),
)
def test_the_prefix_holds_what_the_budget_allows(
    data: st.DataObject, document: list[str], budget: int, suffix_share: float, remembering: bool
) -> None:
    row = data.draw(st.integers(0, len(document) - 1), label="row")
    column = data.draw(st.integers(0, len(document[row])), label="column")
    prefix = "".join(line + "\n" for line in document[:row]) + document[row][:column]
    suffix = document[row][column:] + "".join("\n" + line for line in document[row + 1 :])
    tokenize: Tokenize = Encoder(word_tokens) if remembering else word_tokens
    window = local_window(prefix, suffix, budget, suffix_share, tokenize)

    prefix_budget = budget - len(window.suffix)
    start = len(prefix) - window.prefix_chars
    assert window.prefix == word_tokens(prefix[start:])
    assert len(window.prefix) <= max(prefix_budget, 0)
    tightest = tightest_start(prefix, prefix_budget)
    if prefix_budget <= 0 or not prefix:
        assert window.prefix == []
    elif tightest is None:  # the cursor's line alone is over budget: its end
        assert 0 < window.prefix_chars <= column
    else:
        assert line_start(prefix, start)
        fitting = prefix.count("\n", tightest)  # whole lines before the cursor's that fit
        kept = prefix.count("\n", start)
        assert window.prefix_chars >= column  # the cursor's line up to the cursor, whenever it fits
        if fitting:
            assert kept >= 1  # and the line above it
        assert kept == fitting or 2 * kept > fitting  # a stable start costs less than half of the lines
        if fitting >= 2 * START_STRIDE_LINES:  # enough lines: the start is on a multiple of the stride
            assert prefix.count("\n", 0, start) % START_STRIDE_LINES == 0


LINE = "    total = compute(alpha, beta, gamma) + adjust(delta, epsilon) * scale - offset  # step "


def ninety_character_lines(count: int) -> list[str]:
    return [f"{LINE[:86]}{i:04d}" for i in range(count)]


@pytest.mark.parametrize("row", [16, 32, 48, 64])
def test_column_0_of_every_16th_line_has_the_lines_above(row: int) -> None:
    """The issue's case: fewer than 16 lines fit, and the stride of 16 moved the start onto
    the cursor's own line, leaving nothing before the cursor at column 0."""
    document = ninety_character_lines(100)
    prefix = "".join(line + "\n" for line in document[:row])
    suffix = "".join(line + "\n" for line in document[row:])
    budget = 10 * len(word_tokens(document[0] + "\n"))  # ten whole lines
    window = local_window(prefix, suffix, budget, 0.0, word_tokens)
    assert window.prefix_chars > 90
    assert prefix[len(prefix) - window.prefix_chars :].endswith(document[row - 1] + "\n")
    assert 2 * prefix.count("\n", len(prefix) - window.prefix_chars) > 10


def test_the_default_models_window_never_loses_the_line_above() -> None:
    """444 tokens, the default model's tokenizer, 90-character lines: at every line's column 0
    and end, the prompt holds the line above the cursor."""
    vocabulary = Vocabulary(DEFAULT_MODEL_PATH)
    encoder = Encoder(vocabulary.encode)
    document = ninety_character_lines(120)
    for row in range(1, len(document)):
        for column in (0, 45, 90):
            prefix = "".join(line + "\n" for line in document[:row]) + document[row][:column]
            suffix = document[row][column:] + "\n" + "".join(line + "\n" for line in document[row + 1 :])
            window = local_window(prefix, suffix, 444, 0.25, encoder)
            assert window.prefix_chars >= column + 91, (row, column)


def test_the_start_stays_put_while_the_user_types_on_a_line() -> None:
    """KV reuse: 30 keys on one line push 5 lines out of a tightest fit, but move the
    window's start at most once (a 16-line step)."""
    prefix = "".join(f"x{i} = {i}\n" for i in range(200))  # 6 tokens a line: 66 lines fit
    starts = set()
    for typed in range(1, 31):
        text = prefix + "f(" + "a b c d e f g h i j k l m n o p"[:typed]  # a token a key
        window = local_window(text, ")\n", 400, 0.25, word_tokens)
        starts.add(text.count("\n", 0, len(text) - window.prefix_chars))
    assert len(starts) <= 2
    assert all(line % START_STRIDE_LINES == 0 for line in starts)


def test_a_cursor_line_over_budget_keeps_its_end_down_to_one_character() -> None:
    window = local_window("x" * 7 + " " + "y" * 8, "", 1, 0.0, word_tokens)
    assert window.prefix == word_tokens("y" * 8)
    window = local_window("(" * 40, "", 1, 0.0, word_tokens)
    assert window.prefix == word_tokens("(")
