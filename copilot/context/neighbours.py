"""Similar code in recently used files: Jaccard similarity over sets of words in sliding
windows, the "neighbouring tabs" technique of GitHub Copilot.

The query is the text just before the cursor; each other document is cut into windows of
``WINDOW_LINES`` lines every ``STRIDE_LINES`` lines, indexed once per document version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
WINDOW_LINES = 20
STRIDE_LINES = 10
MAX_WINDOWS = 400  # per document: larger files are sampled with a wider stride
MIN_SIMILARITY = 0.15  # below this a window shares little more than keywords
# Words every file of a language has: they make unrelated windows look alike.
STOP_WORDS = frozenset(
    [
        "self", "this", "def", "class", "return", "if", "else", "elif", "for", "while", "in", "is", "not", "and",
        "or", "None", "True", "False", "import", "from", "as", "const", "let", "var", "function", "new", "public",
        "private", "static", "void", "int", "char", "struct", "fn", "pub", "use", "mut", "impl", "package", "func",
        "type", "interface", "extends", "implements", "include", "define",
    ]
)


class TextWindow(msgspec.Struct, frozen=True):
    start_line: int  # 0-based, inclusive
    end_line: int
    words: frozenset[str]


class Match(msgspec.Struct, frozen=True, kw_only=True):
    uri: str
    start_line: int
    end_line: int
    similarity: float


def words(text: str) -> frozenset[str]:
    return frozenset(WORD.findall(text)) - STOP_WORDS


def windows_of(text: str, window_lines: int = WINDOW_LINES, stride: int = STRIDE_LINES) -> list[TextWindow]:
    """Overlapping windows of a document, at most ``MAX_WINDOWS`` of them."""
    lines = text.split("\n")
    if len(lines) > window_lines + stride * (MAX_WINDOWS - 1):
        stride = -(-(len(lines) - window_lines) // (MAX_WINDOWS - 1))
    result = []
    for start in range(0, max(1, len(lines) - window_lines + stride), stride):
        end = min(len(lines), start + window_lines) - 1
        found = words("\n".join(lines[start : end + 1]))
        if found:
            result.append(TextWindow(start, end, found))
    return result


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def most_similar(
    query: frozenset[str],
    documents: Iterable[tuple[str, list[TextWindow]]],
    limit: int = 3,
    min_similarity: float = MIN_SIMILARITY,
) -> list[Match]:
    """The best window of each document, then the best ``limit`` of those (one window per
    document keeps one file from filling the budget with near-copies of itself)."""
    best: list[Match] = []
    for uri, windows in documents:
        top: TextWindow | None = None
        top_score = min_similarity
        for window in windows:
            # |A∩B| <= min(|A|,|B|): a cheap upper bound skips most windows outright.
            if min(len(query), len(window.words)) / max(len(query), len(window.words)) < top_score:
                continue
            value = jaccard(query, window.words)
            if value > top_score:
                top, top_score = window, value
        if top is not None:
            best.append(Match(uri=uri, start_line=top.start_line, end_line=top.end_line, similarity=top_score))
    best.sort(key=lambda m: (-m.similarity, m.uri))
    return best[:limit]
