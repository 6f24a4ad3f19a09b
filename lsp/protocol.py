"""pygls' LSP protocol with every message judged before it is handled, so that each request
gets an answer and a bad one gets exactly one clear error.

pygls 2.1.1 answers nothing to a request whose params lsprotocol rejects (a traceback in
the log and a ``window/showMessage`` popup instead, each time), ignores requests after
``shutdown``, serves requests before ``initialize`` and takes a float or a string where LSP
says integer. Here (LSP 3.17, "Lifecycle Messages"):

- a request before ``initialize``: ServerNotInitialized (-32002); a notification: dropped;
- a second ``initialize``, or any request after ``shutdown``: InvalidRequest (-32600);
- params that do not fit the method's type: InvalidParams (-32602) saying what and where,
  one log line, no popup (the custom position requests are checked as LSP positions too);
- ``exit``: the transport ends the session, with 0 after ``shutdown``, 1 without; over stdio
  its end is the process's, with that exit status (a process of many sessions goes on).

``receive`` takes one decoded JSON value from the transport (``transport.py``) and never
raises but for a lost connection.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator
from typing import Any

import cattrs
from cattrs.v import format_exception
from lsprotocol import types
from pygls.exceptions import FeatureRequestError, JsonRpcException, JsonRpcInternalError
from pygls.lsp.server import LanguageServer
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    LanguageServerProtocol,
    lsp_method,
)
from pygls.protocol.json_rpc import RPCRequest

log = logging.getLogger(__name__)

INVALID_REQUEST = types.ErrorCodes.InvalidRequest
INVALID_PARAMS = types.ErrorCodes.InvalidParams
NOT_INITIALIZED = types.ErrorCodes.ServerNotInitialized

# Custom requests pygls would hand over untyped: checked as the LSP type they follow, so that
# a negative or non-integer position is InvalidParams instead of a cursor somewhere else.
CUSTOM_PARAMS: dict[str, type[Any]] = {
    "copilot/inspectContext": types.TextDocumentPositionParams,
    "copilot/generate": types.TextDocumentPositionParams,
}
MAX_DETAIL = 300  # characters of "what was wrong" in an answer or a log line


class CopilotProtocol(LanguageServerProtocol):
    def __init__(self, server: LanguageServer, converter: cattrs.Converter) -> None:
        super().__init__(server, converter)
        converter.register_structure_hook(int, _strict_int)  # cattrs would take 1.5, "1", true
        self.initialized = False  # a valid initialize request was handled
        self.exit_code: int | None = None  # set by exit: the transport stops and exits with it
        self._shown: set[tuple[str, str]] = set()  # kinds of error already shown to the user

    def receive(self, payload: object) -> None:
        """Judge one decoded message, answer it or hand it to pygls' handlers."""
        try:
            if not isinstance(payload, dict):
                log.warning("ignoring a JSON %s: an LSP message is a JSON object", type(payload).__name__)
            elif "method" in payload:
                (self._request if "id" in payload else self._notification)(payload)
            elif "id" in payload:
                self._response(payload)
            else:
                log.warning("ignoring a JSON object that is no JSON-RPC message: %s", _preview(payload))
        except OSError:
            raise  # the connection is gone: the transport ends
        except Exception:
            log.exception("could not handle a message: %s", _preview(payload))

    def _request(self, data: dict[str, Any]) -> None:
        msg_id, method = data["id"], data["method"]
        if isinstance(msg_id, bool) or not isinstance(msg_id, int | str):
            self._refuse(None, INVALID_REQUEST, f"a request id is an integer or a string, not {_preview(msg_id)}")
        elif data.get("jsonrpc") != "2.0" or not isinstance(method, str):
            self._refuse(msg_id, INVALID_REQUEST, 'a request needs "jsonrpc": "2.0" and a method name')
        elif self._shutdown:
            self._refuse(msg_id, INVALID_REQUEST, f"{method} after shutdown: only exit is accepted now")
        elif method == types.INITIALIZE and self.initialized:
            self._refuse(msg_id, INVALID_REQUEST, "initialize was already received: it is sent once")
        elif method != types.INITIALIZE and not self.initialized:
            self._refuse(msg_id, NOT_INITIALIZED, f"{method} before initialize")
        elif isinstance(message := self._structure(data, method, request=True), str):
            self._refuse(msg_id, INVALID_PARAMS, f"invalid params for {method}: {message}")
        elif not isinstance(message, RPCRequest):
            self._refuse(msg_id, INVALID_REQUEST, f"{method} is a notification, not a request")
        else:
            if method == types.INITIALIZE:
                self.initialized = True  # nothing is created twice: a second one is refused above
            self.handle_message(message)

    def _notification(self, data: dict[str, Any]) -> None:
        method = data["method"]
        if data.get("jsonrpc") != "2.0" or not isinstance(method, str):
            log.warning('ignoring a notification without "jsonrpc": "2.0" and a method name: %s', _preview(data))
        elif method == types.EXIT:  # always accepted, whatever its params
            self.handle_message(JsonRPCNotification(method=types.EXIT, jsonrpc="2.0", params=None))
        elif not self.initialized:
            log.warning("ignoring %s: it came before initialize", method)
        elif self._shutdown:
            log.warning("ignoring %s: it came after shutdown", method)
        elif isinstance(message := self._structure(data, method, request=False), str):
            log.warning("ignoring %s: invalid params: %s", method, message)
        else:
            self.handle_message(message)

    def _response(self, data: dict[str, Any]) -> None:
        """The client's answer to one of the server's requests (progress, configuration)."""
        msg_id = data["id"]
        if isinstance(msg_id, bool) or not isinstance(msg_id, int | str):
            log.warning("ignoring a response with the id %s", _preview(msg_id))
            return
        result_type = self._result_types.pop(msg_id, None) or JsonRPCResponseMessage
        message_type = types.ResponseErrorMessage if "error" in data else result_type
        try:
            message = self._converter.structure(_fields(data, ("jsonrpc", "id", "result", "error")), message_type)
        except Exception as exc:
            detail = describe(exc)
            log.warning("the response to request %s is malformed: %s", msg_id, detail)
            if (future := self._request_futures.pop(msg_id, None)) is not None:
                future.set_exception(JsonRpcInternalError(message=f"malformed response: {detail}"))
            return
        self.handle_message(message)

    def _structure(self, data: dict[str, Any], method: str, request: bool) -> Any:
        """The typed message, or what is wrong with it."""
        if (params_type := CUSTOM_PARAMS.get(method)) is not None:
            try:
                self._converter.structure(data.get("params"), params_type)
            except Exception as exc:
                return describe(exc, "$.params")
        generic = JsonRPCRequestMessage if request else JsonRPCNotification
        message_type = self.get_message_type(method) or generic
        fields = _fields(data, ("jsonrpc", "id", "method", "params") if request else ("jsonrpc", "method", "params"))
        fields.setdefault("params", None)  # JSON-RPC: params may be omitted (an `initialized` without them)
        try:
            return self._converter.structure(fields, message_type)
        except Exception as exc:
            return describe(exc)

    def _refuse(self, msg_id: int | str | None, code: types.ErrorCodes, text: str) -> None:
        log.warning("request %s refused (%s): %s", msg_id, code.name, text)
        # A plain dict: lsprotocol's converter would drop the "id": null JSON-RPC requires.
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": int(code), "message": text}})

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        """The server's own exit handler; then the transport ends the session's read loop (over
        stdio the process then leaves with this status)."""
        self.exit_code = 0 if self._shutdown else 1
        if (handler := self.fm.features.get(types.EXIT)) is not None:
            yield handler, args, None

    def report_error(self, error: Exception, source: type[Exception]) -> None:
        """For ``LanguageServer.report_server_error``: the user sees one ``window/showMessage``
        per kind of error per session (pygls sends one per error: a popup per keystroke when
        a didChange handler fails), and none for a failed request, whose answer carries the
        error and which pygls has logged with its traceback; the others are logged here."""
        if issubclass(source, FeatureRequestError):
            return
        log.error("%s: %s", source.__name__, error)
        if isinstance(error, JsonRpcException) and isinstance(error.data, dict) and "traceback" in error.data:
            log.debug("%s", "".join(error.data["traceback"]).rstrip())
        kind = (source.__name__, type(error).__name__)
        if kind in self._shown:
            return
        self._shown.add(kind)
        self._server.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Error,
                message=f"copilot-lsp: {error} (the log has the details; more errors like this one are only logged)",
            )
        )


def describe(exc: BaseException, path: str = "$") -> str:
    """What a structuring failure found wrong, with where: ``line should be in range
    [0:2147483647], but was -1 @ $.params.position``; paths in the protocol's camelCase."""
    if isinstance(exc, cattrs.BaseValidationError):
        lines = cattrs.transform_error(exc, path, _format)
    else:
        lines = [f"{_format(exc, None)} @ {path}"]
    text = "; ".join(_camel_path(line) for line in lines)
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."


def _format(exc: BaseException, type_: type[Any] | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ValueError) and str(exc):  # lsprotocol's range checks, unknown enum values
        return str(exc).rstrip(".")
    return format_exception(exc, type_)


def _camel_path(line: str) -> str:
    text, at, path = line.rpartition(" @ ")
    return f"{text}{at}{re.sub(r'_([a-z])', lambda m: m[1].upper(), path)}" if at else line


def _strict_int(value: Any, type_: type[Any]) -> Any:
    """cattrs' structure hook for int and, by subclass dispatch, bool and the IntEnums."""
    if type_ is bool:
        return bool(value)  # lenient as cattrs: a client's capability flags
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {_preview(value)}")
    return type_(value)  # an IntEnum refuses a value it does not have


def _fields(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The JSON-RPC fields of a message (pygls' generic messages refuse any other key)."""
    return {name: data[name] for name in names if name in data}


def _preview(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
