"""Retrieval over real documents, syntax trees and ignore rules, with the model's tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from copilot.config import ContextSettings
from copilot.context.ranking import Span
from copilot.context.retrieval import Retriever, names_near
from copilot.documents import Change, DocumentStore, Position
from copilot.inference.vocabulary import Vocabulary
from copilot.models import DEFAULT_MODEL_PATH

HELPERS = '''def parse_header(data: bytes) -> dict[str, str]:
    """Split a header block into fields."""
    fields = {}
    for line in data.split(b"\\n"):
        key, _, value = line.partition(b":")
        fields[key.decode()] = value.decode().strip()
    return fields


def unrelated(x):
    return x
'''
TOKEN = "gh" + "p_" + "Ab1" * 12
SECRETS = f"""def api_headers():
    return {{"Authorization": "token {TOKEN}"}}
"""
MAIN = """import sys


def handle(data):
    headers = parse_header(data)
    auth = api_headers()
    return """


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary(DEFAULT_MODEL_PATH)


def retriever_for(
    tmp_path: Path, vocabulary: Vocabulary, files: dict[str, str], **settings: object
) -> tuple[Retriever, DocumentStore]:
    documents = DocumentStore()
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        documents.open(path.as_uri(), "python", 1, text)
    retriever = Retriever(
        documents,
        ContextSettings(workspace_index=False, **settings),  # type: ignore[arg-type]
        tmp_path,
        vocabulary.encode,
        vocabulary.fim,
        vocabulary.repo_level,
    )
    for name in files:
        retriever.touch((tmp_path / name).as_uri())
    return retriever, documents


def at_end(documents: DocumentStore, uri: str):  # type: ignore[no-untyped-def]
    document = documents.get(uri)
    lines = document.text.split("\n")
    return document.snapshot(Position(line=len(lines) - 1, character=len(lines[-1])), "utf-32")


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["x = parse_header(data)", "    return pars"], ["data", "parse_header"]),
        (["a = first", "b = second(", ""], ["second", "first"]),
        (["value = compute(x1, y2"], ["x1", "compute"]),  # 'y2' is the word being typed
    ],
)
def test_names_near_are_complete_words_nearest_first(lines: list[str], expected: list[str]) -> None:
    assert names_near(lines)[: len(expected)] == expected


def test_definitions_come_from_other_open_documents_and_secrets_are_masked(
    tmp_path: Path, vocabulary: Vocabulary
) -> None:
    retriever, documents = retriever_for(
        tmp_path, vocabulary, {"helpers.py": HELPERS, "auth.py": SECRETS, "main.py": MAIN}
    )
    uri = (tmp_path / "main.py").as_uri()
    result = retriever.retrieve(at_end(documents, uri), Span(uri=uri, start_line=0, end_line=6), 400)
    reasons = {c.reason: c for c in result.snippets}
    assert reasons["defines parse_header"].path == "helpers.py"
    assert reasons["defines parse_header"].text.startswith("def parse_header(data: bytes)")
    assert "defines unrelated" not in reasons
    assert TOKEN not in reasons["defines api_headers"].text
    assert "<secret:github-token>" in reasons["defines api_headers"].text
    assert vocabulary.detokenize(result.context).startswith("# auth.py\n# def api_headers():")  # sorted by path
    assert result.style == "comments"


@pytest.mark.parametrize("budget", [0, 10, 25, 60, 120, 400])
def test_the_context_never_exceeds_its_budget_in_model_tokens(
    tmp_path: Path, vocabulary: Vocabulary, budget: int
) -> None:
    retriever, documents = retriever_for(
        tmp_path, vocabulary, {"helpers.py": HELPERS, "auth.py": SECRETS, "main.py": MAIN}
    )
    uri = (tmp_path / "main.py").as_uri()
    result = retriever.retrieve(at_end(documents, uri), Span(uri=uri, start_line=0, end_line=6), budget)
    assert result.tokens <= budget
    assert len(vocabulary.encode(vocabulary.detokenize(result.context))) <= budget + len(result.snippets)


def test_ignored_documents_are_neither_completed_nor_used(tmp_path: Path, vocabulary: Vocabulary) -> None:
    retriever, documents = retriever_for(
        tmp_path,
        vocabulary,
        {"private/helpers.py": HELPERS, "main.py": MAIN, ".env": "def api_headers():\n    return 1\n"},
        ignore=["private/"],
    )
    uri = (tmp_path / "main.py").as_uri()
    result = retriever.retrieve(at_end(documents, uri), Span(uri=uri, start_line=0, end_line=6), 400)
    assert result.snippets == []
    assert retriever.ignored((tmp_path / ".env").as_uri()) == "default: .env"
    assert retriever.ignored((tmp_path / "private" / "helpers.py").as_uri()) == "settings: private/"
    assert retriever.ignored(uri) is None


def test_the_selection_is_reused_until_something_it_depends_on_changes(tmp_path: Path, vocabulary: Vocabulary) -> None:
    retriever, documents = retriever_for(tmp_path, vocabulary, {"helpers.py": HELPERS, "main.py": MAIN})
    uri = (tmp_path / "main.py").as_uri()
    span = Span(uri=uri, start_line=0, end_line=6)
    first = retriever.retrieve(at_end(documents, uri), span, 400)
    document = documents.get(uri)
    end = Position(line=6, character=len("    return "))
    document.apply([Change(text="he", start=end, end=end)], 2, "utf-32")  # a half-typed word
    assert retriever.retrieve(at_end(documents, uri), span, 400) is first
    end = Position(line=6, character=len("    return he"))
    document.apply([Change(text="aders(x)\n    ", start=end, end=end)], 3, "utf-32")  # no defined name: same
    assert retriever.retrieve(at_end(documents, uri), Span(uri=uri, start_line=0, end_line=7), 400) is first
    end = Position(line=7, character=4)
    document.apply([Change(text="unrelated(x)\n    ", start=end, end=end)], 4, "utf-32")  # a defined name
    changed = retriever.retrieve(at_end(documents, uri), Span(uri=uri, start_line=0, end_line=8), 400)
    assert changed is not first
    assert "defines unrelated" in [c.reason for c in changed.snippets]


def test_a_document_the_server_moved_past_keeps_its_last_selection(tmp_path: Path, vocabulary: Vocabulary) -> None:
    """Its syntax tree is newer than the snapshot: no new selection, and the prompt's layout
    stays the one the next request will have (its answer is not shown anyway)."""
    retriever, documents = retriever_for(tmp_path, vocabulary, {"helpers.py": HELPERS, "main.py": MAIN})
    uri = (tmp_path / "main.py").as_uri()
    span = Span(uri=uri, start_line=0, end_line=6)
    snapshot = at_end(documents, uri)
    documents.get(uri).version = 9
    assert retriever.retrieve(snapshot, span, 400).snippets == []  # nothing chosen yet
    documents.get(uri).version = snapshot.version
    chosen = retriever.retrieve(snapshot, span, 400)
    assert chosen.snippets
    documents.get(uri).version = 10
    assert retriever.retrieve(snapshot, span, 400) is chosen


def test_a_changed_selection_keeps_the_snippets_still_wanted_first_and_unchanged(
    tmp_path: Path, vocabulary: Vocabulary, monkeypatch: pytest.MonkeyPatch
) -> None:
    retriever, documents = retriever_for(tmp_path, vocabulary, {"helpers.py": HELPERS, "auth.py": SECRETS})
    main = tmp_path / "main.py"
    text = "def handle(data):\n    headers = parse_header(data)\n    "
    documents.open(main.as_uri(), "python", 1, text)
    uri = main.as_uri()
    first = retriever.retrieve(at_end(documents, uri), Span(uri=uri, start_line=0, end_line=2), 400)
    assert [c.reason for c in first.snippets] == ["defines parse_header"]
    # helpers.py changes (the user edits it), then a new name is typed here.
    helpers = documents.get((tmp_path / "helpers.py").as_uri())
    helpers.apply(
        [Change(text="# edited\n", start=Position(line=2, character=0), end=Position(line=2, character=0))], 2, "utf-32"
    )
    end = Position(line=2, character=4)
    documents.get(uri).apply([Change(text="auth = api_headers()\n    ", start=end, end=end)], 2, "utf-32")
    second = retriever.retrieve(at_end(documents, uri), Span(uri=uri, start_line=0, end_line=3), 400)
    assert [c.reason for c in second.snippets] == ["defines parse_header", "defines api_headers"]
    assert second.snippets[0] is first.snippets[0]  # as it was: the prompt's leading tokens stay the same
    assert second.context[: len(first.context)] == first.context
    # Once the selection is older than STALE_S, a change elsewhere makes it be chosen afresh (and sorted).
    monkeypatch.setattr("copilot.context.retrieval.STALE_S", 0.0)
    monkeypatch.setattr("copilot.context.symbols.OPEN_REFRESH_S", 0.0)  # definitions of open documents found again
    at = Position(line=0, character=0)
    helpers.apply([Change(text="# more\n", start=at, end=at)], 3, "utf-32")
    third = retriever.retrieve(at_end(documents, uri), Span(uri=uri, start_line=0, end_line=3), 400)
    assert [c.path for c in third.snippets] == ["auth.py", "helpers.py"]
    assert "# edited" in third.snippets[1].text
