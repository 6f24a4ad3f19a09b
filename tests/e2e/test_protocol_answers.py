"""Every request gets an answer, with the error code LSP 3.17 gives it, from the real server
over stdio: params the method's type refuses (InvalidParams, saying what, with no popup),
requests before initialize (ServerNotInitialized), a second initialize and requests after
shutdown (InvalidRequest), malformed envelopes (InvalidRequest), and the exit status."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lsp_client import server_env
from tests.support.raw_stdio import RawServer, notification, request

SERVE = [sys.executable, "-m", "copilot.lsp", "serve"]
INIT_PARAMS = {"capabilities": {}, "initializationOptions": {"cache": {"enabled": False}}}
NOT_INITIALIZED, INVALID_REQUEST, INVALID_PARAMS = -32002, -32600, -32602
URI = "file:///project/main.py"
GOOD_POSITION = {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 0}}
GOOD_INLINE = {**GOOD_POSITION, "context": {"triggerKind": 1}}


def start(tmp_path: Path, name: str) -> RawServer:
    return RawServer(SERVE, server_env(tmp_path), tmp_path / f"{name}.log")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RawServer]:
    """An initialized server with one open document."""
    with start(tmp_path, "server") as raw:
        assert "result" in raw.call("init", "initialize", INIT_PARAMS)
        raw.send(notification("initialized", {}))
        document = {"uri": URI, "languageId": "python", "version": 1, "text": "def f():\n    return 1\n"}
        raw.send(notification("textDocument/didOpen", {"textDocument": document}))
        yield raw
        assert "Traceback" not in raw.log()


def error_of(answer: dict[str, Any]) -> tuple[int, str]:
    assert "result" not in answer, answer
    return answer["error"]["code"], answer["error"]["message"]


def assert_still_serving(server: RawServer, msg_id: str) -> None:
    """A valid request is answered; since answers come in order, any popup the earlier
    messages caused has arrived by now."""
    assert "result" in server.call(msg_id, "copilot/stats", {"recent": 0})
    assert server.notifications("window/showMessage") == []


def position(line: Any, character: Any) -> dict[str, Any]:
    return {"textDocument": {"uri": URI}, "position": {"line": line, "character": character}}


BAD_INLINE = [
    ({**GOOD_INLINE, "position": {"line": -1, "character": 0}}, "line should be in range [0:2147483647], but was -1"),
    ({**GOOD_INLINE, "position": {"line": 2**40, "character": 0}}, "but was 1099511627776 @ $.params.position"),
    ({**GOOD_INLINE, "position": {"line": 1.5, "character": 0}}, "expected int @ $.params.position.line"),
    ({**GOOD_INLINE, "position": {"line": "1", "character": 0}}, "expected int @ $.params.position.line"),
    ({**GOOD_INLINE, "textDocument": None}, "@ $.params.textDocument"),
    ({k: v for k, v in GOOD_INLINE.items() if k != "context"}, "required field missing @ $.params.context"),
    ({**GOOD_INLINE, "context": {"triggerKind": 99}}, "99 is not a valid InlineCompletionTriggerKind"),
    (None, "expected InlineCompletionParams @ $.params"),
    ([1, 2], "@ $.params"),
]
BAD_POSITIONS = [
    (position(-1, 0), "line should be in range [0:2147483647], but was -1"),
    (position(0, -1), "character should be in range [0:2147483647], but was -1"),
    (position(0.5, 0), "expected int @ $.params.position.line"),
    (position(0, "3"), "expected int @ $.params.position.character"),
    (position(0, True), "expected int @ $.params.position.character"),
    ({"textDocument": {"uri": URI}}, "required field missing @ $.params.position"),
    ({"textDocument": None, "position": {"line": 0, "character": 0}}, "@ $.params.textDocument"),
    (None, "@ $.params"),
]


def test_params_the_type_refuses_get_invalid_params_saying_what_and_no_popup(server: RawServer) -> None:
    cases = [("textDocument/inlineCompletion", params, what) for params, what in BAD_INLINE]
    cases += [
        (method, params, what)
        for method in ("copilot/inspectContext", "copilot/generate")
        for params, what in BAD_POSITIONS
    ]
    for n, (method, params, _what) in enumerate(cases):
        server.send(request(n, method, params) if params is not None else {**request(n, method), "params": None})
    for n, (method, _params, what) in enumerate(cases):
        code, message = error_of(server.response(n))
        assert code == INVALID_PARAMS, (method, message)
        assert message.startswith(f"invalid params for {method}: ") and what in message, message
    assert_still_serving(server, "after")
    refused = [line for line in server.log().splitlines() if "refused (InvalidParams)" in line]
    assert len(refused) == len(cases), refused  # one line each, no traceback


def test_a_notification_with_bad_params_is_one_log_line_and_no_popup(server: RawServer) -> None:
    change = {"range": {"start": {"line": -1, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "x"}
    for version in range(2, 12):  # as a client would send them: one per keystroke
        server.send(
            notification(
                "textDocument/didChange",
                {"textDocument": {"uri": URI, "version": version}, "contentChanges": [change]},
            )
        )
    assert_still_serving(server, "after")
    ignored = [line for line in server.log().splitlines() if "ignoring textDocument/didChange: invalid params" in line]
    assert len(ignored) == 10, ignored


def test_a_handler_failing_on_every_notification_shows_one_popup_and_logs_each(server: RawServer) -> None:
    """pygls' notebook sync fails on a notebook that was never opened: a real handler error."""
    for version in range(5):
        change = {"notebookDocument": {"uri": "file:///project/nb.ipynb", "version": version}, "change": {}}
        server.send(notification("notebookDocument/didChange", change))
    assert "result" in server.call("after", "copilot/stats", {"recent": 0})
    popups = server.notifications("window/showMessage")
    assert len(popups) == 1 and "KeyError" in popups[0]["params"]["message"], popups
    assert popups[0]["params"]["type"] == 1  # Error
    failed = [line for line in server.log().splitlines() if "FeatureNotificationError: KeyError" in line]
    assert len(failed) == 5, failed


def test_the_custom_position_requests_still_answer_valid_params(server: RawServer) -> None:
    answer = server.call("inspect", "copilot/inspectContext", position(1, 4))
    assert "result" in answer and "prompt" in answer["result"], answer


def test_a_second_initialize_is_invalid_request_and_changes_nothing(server: RawServer) -> None:
    before = server.call("stats-1", "copilot/stats", {"recent": 0})["result"]["state"]
    code, message = error_of(server.call("again", "initialize", INIT_PARAMS))
    assert code == INVALID_REQUEST and "initialize was already received" in message
    assert server.call("stats-2", "copilot/stats", {"recent": 0})["result"]["state"] == before
    assert_still_serving(server, "after")


@pytest.mark.parametrize(
    ("message", "answer_id", "what"),
    [
        ({"jsonrpc": "2.0", "id": 1.5, "method": "copilot/stats"}, None, "a request id is an integer or a string"),
        ({"jsonrpc": "2.0", "id": True, "method": "copilot/stats"}, None, "a request id is an integer or a string"),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "copilot/stats"}, None, "a request id is an integer or a string"),
        ({"id": "no-version", "method": "copilot/stats"}, "no-version", '"jsonrpc": "2.0"'),
        ({"jsonrpc": "1.0", "id": "old", "method": "copilot/stats"}, "old", '"jsonrpc": "2.0"'),
        ({"jsonrpc": "2.0", "id": "nameless", "method": 7}, "nameless", "a method name"),
        ({"jsonrpc": "2.0", "id": "notif", "method": "initialized", "params": {}}, "notif", "not a request"),
    ],
)
def test_malformed_requests_get_invalid_request(
    server: RawServer, message: dict[str, Any], answer_id: str | None, what: str
) -> None:
    server.send(message)
    code, text = error_of(server.response(answer_id))
    assert code == INVALID_REQUEST and what in text, text
    assert_still_serving(server, "after")


def test_json_that_is_no_message_is_logged_and_the_next_request_answered(server: RawServer) -> None:
    for junk in (b"[1, 2]", b"42", b'"text"', b"{}", b'{"jsonrpc": "2.0"}'):
        server.send_raw(b"Content-Length: %d\r\n\r\n" % len(junk) + junk)
    assert_still_serving(server, "after")
    assert [m for m in server.received if m.get("id") is None and "method" not in m] == []


def test_requests_before_initialize_get_server_not_initialized(tmp_path: Path) -> None:
    with start(tmp_path, "early") as server:
        for n, method in enumerate(["copilot/stats", "textDocument/inlineCompletion", "shutdown"]):
            code, message = error_of(server.call(n, method, GOOD_INLINE))
            assert (code, message) == (NOT_INITIALIZED, f"{method} before initialize")
        document = {"uri": URI, "languageId": "python", "version": 1, "text": "early = 1\n"}
        server.send(notification("textDocument/didOpen", {"textDocument": document}))  # dropped (LSP)
        code, _ = error_of(server.call("invalid-init", "initialize", {"capabilities": 3}))
        assert code == INVALID_PARAMS  # and the client may try again
        assert "result" in server.call("init", "initialize", INIT_PARAMS)
        server.send(notification("initialized"))  # JSON-RPC lets params be omitted
        answer = server.call("inspect", "copilot/inspectContext", position(0, 0))
        assert URI in answer["result"]["error"], answer  # the didOpen before initialize was dropped
        assert server.notifications("window/showMessage") == []
        assert "ignoring initialized" not in server.log()
        assert server.close() == 0


def test_requests_after_shutdown_get_invalid_request_and_exit_leaves_with_0(tmp_path: Path) -> None:
    with start(tmp_path, "shutdown") as server:
        assert "result" in server.call("init", "initialize", INIT_PARAMS)
        assert server.call("shutdown", "shutdown") == {"jsonrpc": "2.0", "id": "shutdown", "result": None}
        for method in ("copilot/stats", "shutdown", "initialize"):
            code, message = error_of(server.call(f"late-{method}", method, {}))
            assert code == INVALID_REQUEST and message == f"{method} after shutdown: only exit is accepted now"
        server.send(notification("exit"))
        assert server.wait_exit() == 0


def test_exit_without_shutdown_leaves_with_1(tmp_path: Path) -> None:
    with start(tmp_path, "exit") as server:
        assert "result" in server.call("init", "initialize", INIT_PARAMS)
        server.send(notification("exit", {"junk": "is ignored"}))
        assert server.wait_exit() == 1


def test_exit_before_initialize_leaves_with_1(tmp_path: Path) -> None:
    with start(tmp_path, "exit-early") as server:
        server.send(notification("exit"))
        assert server.wait_exit() == 1
