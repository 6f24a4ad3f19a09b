"""The chosen snippets as prompt tokens, in the repository-level form: one file section per file."""

from __future__ import annotations

from pathlib import Path

from copilot.context.ranking import Candidate
from copilot.context.rendering import Renderer
from copilot.prompt.fim import FimTokens

REPO, SEP = 900, 901
FIM = FimTokens(prefix=1, suffix=2, middle=3, repo_name=REPO, file_sep=SEP)


def tokenize(text: str) -> list[int]:
    return [ord(c) for c in text]  # one token per character: the prompt reads back as text


def spelled(tokens: list[int]) -> str:
    return "".join({REPO: "<repo>", SEP: "<sep>"}.get(t, chr(t)) for t in tokens)


def snippet(path: str, line: int, text: str, score: float = 1.0) -> Candidate:
    return Candidate(
        kind="definition", path=path, uri=f"file:///w/{path}", start_line=line, end_line=line, text=text,
        score=score, reason="test",
    )  # fmt: skip


def test_two_snippets_of_one_file_share_its_section_in_line_order() -> None:
    pool = [snippet("b.py", 40, "def late(): ..."), snippet("a.py", 3, "A = 1"), snippet("b.py", 2, "def early(): ...")]
    retrieved = Renderer(tokenize, FIM, "repo", Path("/w")).render(pool, 10_000, [], "main.py", "python")
    prompt = spelled(retrieved.preamble)
    assert prompt == (
        "<repo>w\n<sep>a.py\nA = 1\n<sep>b.py\ndef early(): ...\n\ndef late(): ...\n<sep>main.py\n"
    )
    assert prompt.count("<sep>b.py") == 1
    assert len(retrieved.snippets) == 3


def test_the_current_files_own_snippets_never_head_a_second_section() -> None:
    """The FIM part is the current file's section; its snippets stay out of the repository form."""
    pool = [snippet("main.py", 80, "def helper(): ..."), snippet("a.py", 3, "A = 1")]
    retrieved = Renderer(tokenize, FIM, "repo", Path("/w")).render(pool, 10_000, [], "main.py", "python")
    assert spelled(retrieved.preamble).count("<sep>main.py") == 1
    assert [c.path for c in retrieved.snippets] == ["a.py"]
    assert len(retrieved.pool) == 2  # the inspector still lists it, as not chosen


def test_the_sections_fit_the_budget() -> None:
    pool = [snippet("b.py", i * 10, f"x{i} = {i}") for i in range(30)]
    for budget in (20, 60, 200):
        retrieved = Renderer(tokenize, FIM, "repo", Path("/w")).render(pool, budget, [], "main.py", "python")
        assert len(retrieved.preamble) <= budget
