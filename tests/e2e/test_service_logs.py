"""Each editor's log (its front's stderr) gets its own session's lines from the model service,
at the level that editor asked for, as a window's own server wrote them; the service's log
keeps its own level (lsp/service/session_logs.py). Real processes and the real model, with
test_service.py's isolated places; and the routing itself, in this process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from copilot import logs
from copilot.lsp.service import session_logs
from copilot.lsp.service.session_logs import SessionLogs
from tests.e2e.test_service import CLI, Place, complete, front_log, initialize, wait_for
from tests.e2e.test_service import place as place  # the fixture: pytest finds it here
from tests.support.stdio_lsp import StdioServer


@pytest.fixture
def home(request: pytest.FixtureRequest) -> Place:
    """test_service.py's ``place``: a test's own folders, config, model and service."""
    found: Place = request.getfixturevalue("place")
    return found


def records(editor: StdioServer) -> list[str]:
    """The request records (debug lines) in the editor's log."""
    return [line for line in front_log(editor).splitlines() if " DEBUG copilot.pipeline" in line and "record {" in line]


def open_as(editor: StdioServer, uri: str, language: str) -> None:
    item = {"uri": uri, "languageId": language, "version": 1, "text": "import os\n\n\ndef walk(root):\n    "}
    editor.notify("textDocument/didOpen", {"textDocument": item})


def configure(editor: StdioServer, level: str) -> None:
    editor.notify("workspace/didChangeConfiguration", {"settings": {"log": {"level": level}}})


def asked(editor: StdioServer, uri: str) -> Any:
    answer = complete(editor, uri)
    assert isinstance(answer["items"], list)
    return answer


@pytest.mark.slow
def test_each_editor_gets_its_own_sessions_lines_at_its_own_level(home: Place) -> None:
    loud, quiet = home.editor(), home.editor()
    initialize(loud, {"log": {"level": "debug"}})
    initialize(quiet, {"log": {"level": "warning"}})
    open_as(loud, "file:///p/loud.py", "python")
    open_as(quiet, "file:///p/quiet.rs", "rust")
    asked(loud, "file:///p/loud.py")
    asked(quiet, "file:///p/quiet.rs")
    found = wait_for(lambda: records(loud), "the debug editor's request record in its log")
    assert len(found) == 1 and '"language":"python"' in found[0], found
    assert " DEBUG " not in front_log(quiet) and " INFO " not in front_log(quiet), front_log(quiet)
    service_log = Path(home.service()["log"]).read_text()
    assert "record {" not in service_log  # the service's own level (info): not the sessions'

    # The levels change per session: no "last wins" for the whole service.
    configure(quiet, "debug")
    configure(loud, "warning")
    asked(quiet, "file:///p/quiet.rs")
    asked(loud, "file:///p/loud.py")
    found = wait_for(lambda: records(quiet), "the request record of the editor now at debug")
    assert len(found) == 1 and '"language":"rust"' in found[0], found
    assert len(records(loud)) == 1  # none more
    assert all('"language":"rust"' not in line for line in records(loud))


@pytest.mark.slow
def test_the_fronts_log_level_wins_over_its_settings(home: Place) -> None:
    editor = home.editor([*CLI, "--log-level", "debug", "serve"])
    other = home.editor()
    initialize(editor, {"log": {"level": "warning"}})  # as per window: --log-level wins
    initialize(other)
    open_as(editor, "file:///p/a.py", "python")
    open_as(other, "file:///p/b.py", "python")
    asked(editor, "file:///p/a.py")
    asked(other, "file:///p/b.py")
    wait_for(lambda: records(editor), "the request record of the editor started with --log-level debug")
    assert records(other) == [] and " INFO " in front_log(other)  # the config's level: info


@pytest.mark.slow
def test_a_model_that_cannot_load_is_one_clear_line_in_each_editors_log(home: Place) -> None:
    config = home.root / "cfg" / "copilot-lsp" / "config.toml"
    config.write_text(f'[model]\npath = "{home.root / "missing.gguf"}"\n[service]\nidle_shutdown_s = 120\n')
    editors = [home.editor(), home.editor()]
    for number, editor in enumerate(editors):
        initialize(editor)
        open_as(editor, f"file:///p/m{number}.py", "python")
        assert complete(editor, f"file:///p/m{number}.py") == {"items": []}
    assert len({session["label"] for session in home.service()["sessions"]}) == 2  # one service for both
    for editor in editors:
        lines = [line for line in front_log(editor).splitlines() if "model file not found" in line]
        assert len(lines) == 1 and " ERROR " in lines[0] and "missing.gguf" in lines[0], front_log(editor)
        assert "copilot-lsp doctor" in lines[0]
        # As per window: the log says it, no popup.
        assert [m for m in list(editor.notifications.queue) if m["method"] == "window/showMessage"] == []


@pytest.mark.slow
def test_the_threads_a_session_starts_log_as_that_session(home: Place, tmp_path: Path) -> None:
    (tmp_path / "lib.py").write_text("def helper():\n    return 1\n")
    indexed, other = home.editor(), home.editor()
    params = {"processId": os.getpid(), "capabilities": {}, "rootUri": tmp_path.as_uri()}
    indexed.request("initialize", params)
    indexed.notify("initialized", {})
    initialize(other)
    line = wait_for(lambda: "indexed 1 files under" in front_log(indexed), "the workspace index's line (its thread)")
    assert line and "indexed" not in front_log(other)


class FakeTransport:
    """What SessionLogs uses of a session's transport."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.buffered = 0

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def texts(self) -> list[str]:
        """The lines sent (``copilot/log`` notifications, framed)."""
        return [json.loads(data.split(b"\r\n\r\n", 1)[1])["params"]["text"] for data in self.written]

    def messages(self) -> list[str]:
        return [text.split("copilot.test_routing: ", 1)[-1] for text in self.texts()]


@pytest.fixture
def routing() -> Any:
    handler = SessionLogs(logging.WARNING)
    logger = logging.getLogger("copilot.test_routing")
    root = logging.getLogger()
    saved = logging.getLogger("copilot").level
    root.addHandler(handler)
    try:
        yield handler, logger
    finally:
        root.removeHandler(handler)
        logging.getLogger("copilot").setLevel(saved)


def test_records_go_to_their_sessions_at_their_levels_only(routing: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    handler, logger = routing
    formatted: list[str] = []
    format_record = handler.format
    monkeypatch.setattr(handler, "format", lambda r: formatted.append(r.getMessage()) or format_record(r))

    async def main() -> tuple[FakeTransport, FakeTransport]:
        loud, quiet = FakeTransport(), FakeTransport()
        handler.attach("loud", loud, logging.DEBUG)
        handler.attach("quiet", quiet, logging.WARNING)
        assert logging.getLogger("copilot").level == logging.DEBUG  # the lowest any session wants
        for label in ("loud", "quiet"):
            token = logs.SESSION.set(label)
            logger.debug("debug of %s", label)
            logger.warning("warning of %s", label)
            logs.SESSION.reset(token)
        logger.warning("no session's")  # the service's own: its log only
        token = logs.SESSION.set("loud")
        thread = logs.session_thread(lambda: logger.info("from a thread of loud's"), "loud-worker")
        shared = logs.shared_thread(lambda: logger.error("from a shared thread"), "shared-worker")
        plain = threading.Thread(target=lambda: logger.error("from a thread started with nothing"))
        logs.SESSION.reset(token)  # started after: each took its context when it was made
        for started in (thread, shared, plain):
            started.start()
            started.join()
        await asyncio.sleep(0.05)  # the thread's line is written by the loop
        handler.detach("loud")
        assert logging.getLogger("copilot").level == logging.WARNING
        return loud, quiet

    loud, quiet = asyncio.run(main())
    assert loud.messages() == ["debug of loud", "warning of loud", "from a thread of loud's"]
    assert quiet.messages() == ["warning of quiet"]
    assert " DEBUG copilot.test_routing: debug of loud" in loud.texts()[0]  # as the per-window log wrote it
    assert "debug of quiet" not in formatted  # below its session's level: never formatted
    assert "no session's" not in formatted and "from a shared thread" not in formatted
    assert "from a thread started with nothing" not in formatted


def test_a_front_that_does_not_read_loses_lines_not_the_service(routing: Any) -> None:
    handler, logger = routing

    async def main() -> FakeTransport:
        transport = FakeTransport()
        handler.attach("s1", transport, logging.INFO)
        token = logs.SESSION.set("s1")
        transport.buffered = session_logs.MAX_BUFFERED + 1
        for number in range(5):
            logger.info("line %d", number)
        assert handler.dropped("s1") == 5 and transport.written == []
        transport.buffered = 0
        logger.info("read again")
        logs.SESSION.reset(token)
        return transport

    texts = asyncio.run(main()).texts()
    assert len(texts) == 2
    assert "5 log line(s) dropped" in texts[0] and "read again" in texts[1]
