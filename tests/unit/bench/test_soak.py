"""The soak bench's typist: real edits through Document.apply, key by key, and a tree that stays in step."""

from bench.soak import STATEMENTS, Typist, document_text, soak
from copilot.documents import Document
from copilot.syntax.tree import SyntaxTree


def test_the_typist_types_statements_one_key_per_change() -> None:
    text = document_text(20_000)
    assert 19_000 < len(text) <= 20_000 and text.endswith("\n")
    document = Document("file:///soak.py", "python", 0, text)
    typist = Typist(document, seed=3)
    typist.type_keys(500)
    assert typist.keys == 500 and document.version == 500 and len(typist.parse_ms) == 500
    typed = [line.strip() for line in document.text.split("\n") if line.strip() in STATEMENTS]
    assert typed  # whole statements were typed (and half of them deleted again)
    assert abs(len(document.text) - len(text)) < 2_000
    fresh = SyntaxTree.create("python", document.text)
    assert document.syntax is not None and document.syntax.tree is not None and fresh is not None
    assert fresh.tree is not None and str(document.syntax.tree.root_node) == str(fresh.tree.root_node)


def test_a_short_soak_reports_its_samples() -> None:
    result = soak(keys=1_500, seed=7, text=document_text(30_000), parse_budget_ms=1_000)
    assert result["tree_kept"] is True and result["tree_lost_at_key"] is None
    samples = result["samples"]
    assert isinstance(samples, list) and [s["keys"] for s in samples] == [0, 1_000, 1_500]
