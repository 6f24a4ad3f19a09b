"""The server's copy of a document is the editor's, over real LSP: random edit sequences go to
the real server over stdio and, after every didChange, its copy (``copilot/_documentText``,
answered when ``COPILOT_LSP_TEST_REQUESTS=1``) is compared with the editor's, computed here
by an independent model of LSP's rules. The text mixes every character Python's
``str.splitlines`` breaks on and LSP does not, lone CRs, CRLFs and text outside the BMP;
positions include characters past a line's end and lines past the document's end.
One server process per position encoding serves every example."""

from __future__ import annotations

import itertools
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from copilot.lsp.sync import TEST_REQUESTS_ENV, TEXT_METHOD
from tests.support.lsp_client import server_env
from tests.support.stdio_lsp import StdioServer

SERVER = [sys.executable, "-m", "copilot.lsp", "serve"]
ENCODINGS = ("utf-16", "utf-8", "utf-32")
# What an editor's buffer can hold: every character str.splitlines breaks on that LSP does
# not, LSP's three line ends, and characters of 1 to 4 UTF-8 bytes (2 UTF-16 units outside the BMP).
SPLITLINES_ONLY = ["\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
ATOMS = ["a", "Z", " ", "\t", "é", "中", "😀", "𝄞", "\n", "\r", "\r\n", *SPLITLINES_ONLY]
_uris = itertools.count()


# --- the editor's side: LSP's rules, written independently of copilot/documents.py ----------


def lsp_lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line's text, without its break; LSP breaks at \\r\\n, \\r and \\n only."""
    spans, start = [], 0
    for match in re.finditer(r"\r\n|\r|\n", text):
        spans.append((start, match.start()))
        start = match.end()
    return [*spans, (start, len(text))]


def width(char: str, encoding: str) -> int:
    """Code units of ``char`` in ``encoding``."""
    return {"utf-8": len(char.encode()), "utf-16": len(char.encode("utf-16-le")) // 2, "utf-32": 1}[encoding]


def lsp_offset(text: str, line: int, character: int, encoding: str) -> int:
    """LSP: a line past the last one means the end of the document; a character past the
    line's end means the line's end."""
    lines = lsp_lines(text)
    if line >= len(lines):
        return len(text)
    start, end = lines[line]
    units = 0
    for offset in range(start, end):
        if units >= character:
            return offset
        units += width(text[offset], encoding)
    return end


def lsp_position(data: st.DataObject, text: str, encoding: str) -> dict[str, int]:
    """A position an editor may send: on a character boundary of a line, past a line's end,
    or on a line past the document's end."""
    lines = lsp_lines(text)
    line = data.draw(st.integers(0, len(lines) + 1), label="line")
    start, end = lines[line] if line < len(lines) else (0, 0)
    column = data.draw(st.integers(0, end - start + 3), label="column")
    units = sum(width(char, encoding) for char in text[start : min(start + column, end)])
    return {"line": line, "character": units + max(0, column - (end - start))}


def first(pair: tuple[int, Any]) -> int:
    return pair[0]


texts = st.lists(st.sampled_from(ATOMS), max_size=14).map("".join)


# --- the server -------------------------------------------------------------------------


@pytest.fixture(scope="module", params=ENCODINGS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StdioServer, str]]:
    encoding: str = request.param
    tmp = tmp_path_factory.mktemp(f"sync-{encoding}")
    env = {**server_env(tmp), "XDG_DATA_HOME": str(tmp / "data"), TEST_REQUESTS_ENV: "1"}
    with StdioServer(SERVER, env, tmp / "server.log") as lsp:
        result = lsp.request(
            "initialize",
            {"processId": os.getpid(), "rootUri": None, "capabilities": {"general": {"positionEncodings": [encoding]}}},
        )
        assert result["capabilities"]["positionEncoding"] == encoding
        lsp.notify("initialized", {})
        yield lsp, encoding


def server_text(lsp: StdioServer, uri: str) -> dict[str, Any]:
    answer: dict[str, Any] = lsp.request(TEXT_METHOD, {"textDocument": {"uri": uri}})
    return answer


def open_doc(lsp: StdioServer, uri: str, text: str, version: int = 1) -> None:
    item = {"uri": uri, "languageId": "python", "version": version, "text": text}
    lsp.notify("textDocument/didOpen", {"textDocument": item})


def change(lsp: StdioServer, uri: str, version: int, changes: list[dict[str, Any]]) -> None:
    lsp.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": changes})


def insert(at: tuple[int, int], text: str) -> dict[str, Any]:
    position = {"line": at[0], "character": at[1]}
    return {"range": {"start": position, "end": position}, "text": text}


# --- tests ------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=texts, data=st.data())
def test_the_servers_copy_is_the_editors_after_every_edit(
    server: tuple[StdioServer, str], initial: str, data: st.DataObject
) -> None:
    lsp, encoding = server
    uri = f"file:///project/doc{next(_uris)}.py"
    text, version = initial, 1
    open_doc(lsp, uri, text)
    for _ in range(data.draw(st.integers(1, 6), label="notifications")):
        changes = []
        for _ in range(data.draw(st.integers(1, 3), label="changes")):
            new = data.draw(texts, label="new text")
            if data.draw(st.integers(0, 9), label="kind") == 0:  # sometimes the whole document
                changes.append({"text": new})
                text = new
                continue
            ends = [lsp_position(data, text, encoding) for _ in range(2)]
            (start, a), (end, b) = sorted(((lsp_offset(text, **p, encoding=encoding), p) for p in ends), key=first)
            changes.append({"range": {"start": a, "end": b}, "text": new})
            text = text[:start] + new + text[end:]
        version += 1
        change(lsp, uri, version, changes)
        assert server_text(lsp, uri) == {"uri": uri, "version": version, "text": text}, changes
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


@pytest.mark.parametrize(
    ("before", "at", "after"),
    [
        ("ab\fcd\nxyz\n", (0, 5), "ab\fcdX\nxyz\n"),  # \f is no line end for LSP
        ("a\u2028b\x85c\nd", (1, 1), "a\u2028b\x85c\ndX"),
        ("abc", (0, 10), "abcX"),  # a character past the line's end: the line's end
        ("abc\ndef", (0, 10), "abcX\ndef"),
        ("a1\rb2\rc3\n", (1, 1), "a1\rbX2\rc3\n"),  # lone CRs end lines
        ("a\r\nb\r\n", (1, 9), "a\r\nbX\r\n"),  # the end of a CRLF line is before its \r
        ("ab\ncd", (7, 0), "ab\ncdX"),  # a line past the end: the document's end
    ],
)
def test_the_issue_s_cases(server: tuple[StdioServer, str], before: str, at: tuple[int, int], after: str) -> None:
    lsp, _ = server
    uri = f"file:///project/case{next(_uris)}.py"
    open_doc(lsp, uri, before)
    change(lsp, uri, 2, [insert(at, "X")])
    assert server_text(lsp, uri)["text"] == after


def test_one_file_under_two_spellings_is_one_document(server: tuple[StdioServer, str]) -> None:
    lsp, _ = server
    n = next(_uris)
    encoded, plain = f"file:///project/a%20b{n}.py", f"file:///project/a b{n}.py"
    open_doc(lsp, encoded, "x = 1\n")
    change(lsp, plain, 2, [insert((0, 5), "2")])
    assert server_text(lsp, encoded) == {"uri": encoded, "version": 2, "text": "x = 12\n"}
    assert server_text(lsp, plain)["text"] == "x = 12\n"

    lsp.notify("textDocument/didClose", {"textDocument": {"uri": plain}})
    assert "never opened" in server_text(lsp, encoded)["error"]

    # Opened again under the other spelling: changes under either reach it.
    open_doc(lsp, plain, "y\n", version=5)
    change(lsp, encoded, 6, [insert((0, 1), "z")])
    assert server_text(lsp, plain) == {"uri": plain, "version": 6, "text": "yz\n"}
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": encoded}})
    assert "error" in server_text(lsp, plain)


@pytest.mark.parametrize(
    ("opened", "changed"),
    [
        ("file://localhost/project/h{n}.py", "file:///project/h{n}.py"),
        ("FILE:///project/s{n}.py", "file:///project/s{n}.py"),
    ],
)
def test_a_change_under_an_equivalent_uri_reaches_the_document(
    server: tuple[StdioServer, str], opened: str, changed: str
) -> None:
    lsp, _ = server
    n = next(_uris)
    opened, changed = opened.format(n=n), changed.format(n=n)
    open_doc(lsp, opened, "a\n")
    change(lsp, changed, 2, [insert((0, 1), "b")])
    assert server_text(lsp, opened) == {"uri": opened, "version": 2, "text": "ab\n"}


def test_closing_under_another_spelling_forgets_the_documents_state(server: tuple[StdioServer, str]) -> None:
    lsp, _ = server
    n = next(_uris)
    opened, closed = f"file:///project/x%20y{n}.py", f"file:///project/x y{n}.py"
    before = lsp.request("copilot/stats", {"recent": 0})["state"]
    open_doc(lsp, opened, "def add(a, b):\n    return ")
    where = {"textDocument": {"uri": closed}, "position": {"line": 1, "character": 11}}
    lsp.request("textDocument/inlineCompletion", {**where, "context": {"triggerKind": 1}})
    during = lsp.request("copilot/stats", {"recent": 0})["state"]
    assert during["latest"] == before["latest"] + 1, during  # the request left per-document state
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": closed}})
    after = lsp.request("copilot/stats", {"recent": 0})["state"]
    assert (after["latest"], after["last_prompts"], after["shown"]) == (
        before["latest"],
        before["last_prompts"],
        before["shown"],
    )


def test_escapes_of_plain_characters_name_the_same_file_and_case_is_kept_on_linux(
    server: tuple[StdioServer, str],
) -> None:
    lsp, _ = server
    n = next(_uris)
    open_doc(lsp, f"file:///project/%61{n}.py", "lower\n")
    assert server_text(lsp, f"file:///project/a{n}.py")["text"] == "lower\n"
    if sys.platform == "linux":  # A.py and a.py are two files here
        open_doc(lsp, f"file:///project/A{n}.py", "upper\n")
        assert server_text(lsp, f"file:///project/a{n}.py")["text"] == "lower\n"
        assert server_text(lsp, f"file:///project/A{n}.py")["text"] == "upper\n"


def test_a_change_to_a_document_never_opened_is_refused_and_the_server_stays_up(
    server: tuple[StdioServer, str],
) -> None:
    lsp, _ = server
    uri = f"file:///project/never{next(_uris)}.py"
    change(lsp, uri, 2, [insert((0, 0), "x")])
    assert "never opened" in server_text(lsp, uri)["error"]
    open_doc(lsp, uri, "ok")
    assert server_text(lsp, uri)["text"] == "ok"


def test_the_server_log_has_no_tracebacks(server: tuple[StdioServer, str]) -> None:
    """Runs last in the module for each server: nothing above made the server fail inside."""
    lsp, _ = server
    assert lsp.request("copilot/stats", {}) is not None
    log = lsp.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]
