"""One model service for all the editors of a user: `copilot-lsp serve` over stdio is a light
front that forwards to it (lsp/front.py, lsp/service/). Real processes and the real embedded
model; each test has its own XDG folders (short paths: a Unix socket's path holds at most
107 bytes) and its own copy of the model file, so that only its processes map it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from copilot import __version__, paths
from copilot.config import Config
from copilot.lsp.service.naming import SERVICE_ENV, VERSION_ENV
from tests.support.stdio_lsp import StdioServer

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "copilot.lsp"]
SERVE = [*CLI, "serve"]
TIMEOUT_S = 120.0


@dataclass
class Place:
    """A test's own user environment: folders, config and model file."""

    root: Path
    env: dict[str, str]
    model: Path
    editors: list[StdioServer] = field(default_factory=list)

    def write_config(self, text: str) -> None:
        (self.root / "cfg" / "copilot-lsp" / "config.toml").write_text(f'[model]\npath = "{self.model}"\n{text}')

    def editor(self, command: list[str] = SERVE, env: dict[str, str] | None = None) -> StdioServer:
        log = self.root / f"front{len(self.editors)}.log"
        server = StdioServer(command, env or self.env, log)
        self.editors.append(server)
        return server

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=env or self.env, capture_output=True, text=True, timeout=TIMEOUT_S)

    def status(self, env: dict[str, str] | None = None) -> dict[str, Any]:
        result = self.cli("service", "status", "--json", env=env)
        assert result.returncode == 0, result.stderr
        report: dict[str, Any] = json.loads(result.stdout)
        return report

    def service(self) -> dict[str, Any]:
        """The one service of this place."""
        services = self.status()["services"]
        assert len(services) == 1, services
        found: dict[str, Any] = services[0]
        return found


@pytest.fixture
def place() -> Iterator[Place]:
    root = Path(tempfile.mkdtemp(prefix="cls", dir="/tmp"))
    (root / "run").mkdir(mode=0o700)
    (root / "cfg" / "copilot-lsp").mkdir(parents=True)
    model = root / "model.gguf"
    shutil.copy(paths.default_model(), model)
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(root / "run"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "XDG_CONFIG_HOME": str(root / "cfg"),
        "XDG_STATE_HOME": str(root / "state"),
        "XDG_DATA_HOME": str(root / "data"),
    }
    env.pop(SERVICE_ENV, None)  # the suite may run everything else per window
    found = Place(root, env, model)
    found.write_config("[service]\nidle_shutdown_s = 120\n")  # left running by a failure: not for long
    try:
        yield found
    finally:
        for editor in found.editors:
            editor.close()
        found.cli("service", "stop", "--all")
        for pid in mapping(model):  # a service the test killed the socket of, a stale one
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def mapping(model: Path) -> set[int]:
    """The processes that map ``model`` (llama.cpp mmaps the weights)."""
    pids = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            if str(model) in maps.read_text():
                pids.add(int(maps.parent.name))
        except (OSError, ValueError):
            continue
    return pids


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status)[1])  # type: ignore[index]


def initialize(editor: StdioServer, options: dict[str, Any] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"processId": os.getpid(), "capabilities": {}, "rootUri": None}
    if options is not None:
        params["initializationOptions"] = options
    result: dict[str, Any] = editor.request("initialize", params)
    editor.notify("initialized", {})
    return result


TEXT = "import os\n\n\ndef walk(root):\n    "


def open_doc(editor: StdioServer, uri: str, text: str = TEXT) -> None:
    item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    editor.notify("textDocument/didOpen", {"textDocument": item})


def complete(editor: StdioServer, uri: str, line: int = 4, character: int = 4) -> Any:
    params = {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 1},
    }
    return editor.request("textDocument/inlineCompletion", params)


def front_log(editor: StdioServer) -> str:
    return editor.log_path.read_text()


def test_editors_share_one_model_and_survive_the_service_being_killed(place: Place) -> None:
    editors = [place.editor() for _ in range(4)]
    for number, editor in enumerate(editors):
        initialize(editor)
        open_doc(editor, f"file:///p/m{number}.py", TEXT.replace("walk", f"walk{number}"))  # not from the cache
        assert isinstance(complete(editor, f"file:///p/m{number}.py")["items"], list)
    service = place.service()
    assert mapping(place.model) == {service["pid"]}  # one copy of the weights, in the service
    assert len(service["sessions"]) == 4
    assert {session["peer"] for session in service["sessions"]} == {f"pid {e.process.pid}" for e in editors}
    held = {uri for session in service["sessions"] for uri in session["kv_sequences"]}
    assert held == {f"file:///p/m{number}.py" for number in range(4)}  # a KV sequence per editor's document

    # An editor closed by force: its session ends and its KV sequence is freed.
    editors[0].process.kill()

    def without_first() -> dict[str, Any] | None:
        current = place.service()
        owners = [owner for engine in current["engines"] for owner in engine["sequences"]]
        gone = len(current["sessions"]) == 3 and not any(owner.endswith("file:///p/m0.py") for owner in owners)
        return current if gone else None

    wait_for(without_first, "the killed editor's session and KV sequence freed")
    assert " ERROR " not in Path(service["log"]).read_text()  # an editor going away is no error

    # The service killed while the model writes for an editor: that request is answered with
    # nothing, and every editor's next request is served by a new service.
    writing = editors[1]
    writing.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"completion": {"max_tokens": 512, "max_lines": 0, "max_decode_ms": 0}}},
    )
    writing.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": "file:///p/m1.py", "version": 2},
            "contentChanges": [
                {
                    "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                    "text": "# walk\n",
                }
            ],
        },
    )
    while not writing.notifications.empty():
        writing.notifications.get()
    answer: dict[str, Any] = {}
    asking = threading.Thread(target=lambda: answer.update(complete(writing, "file:///p/m1.py", 5, 4)))
    asking.start()
    partial = writing.notifications.get(timeout=TIMEOUT_S)
    assert partial["method"] == "copilot/partialCompletion"  # the model is writing
    os.kill(service["pid"], signal.SIGKILL)
    asking.join(TIMEOUT_S)
    assert answer == {"items": []}
    # Sent while its front reconnects: forwarded once the new service has the session. Back to
    # the ordinary limits: 500 tokens with no time budget take minutes on a busy 2-core machine.
    defaults = Config().completion
    writing.notify("workspace/didChangeConfiguration", {"settings": {"completion": {}}})
    for number, editor in enumerate(editors[1:], 1):
        line = 5 if number == 1 else 4  # the edit before the kill is in the replayed document
        assert isinstance(complete(editor, f"file:///p/m{number}.py", line, 4)["items"], list)
        stats = editor.request("copilot/stats", {})
        assert stats["counts"]["requests"] == 1  # answered by a session of the new service
        if number == 1:  # with the configuration sent while its front reconnected
            assert all(record["generated_tokens"] <= defaults.max_tokens for record in stats["recent"]), stats
    restarted = place.service()
    assert restarted["pid"] != service["pid"] and not alive(service["pid"])
    assert len(restarted["sessions"]) == 3
    assert all(session["open_documents"] == 1 for session in restarted["sessions"])  # replayed
    assert mapping(place.model) == {restarted["pid"]}
    assert sum(front_log(editor).count("starting the model service") for editor in editors) == 2


def test_ten_editors_starting_at_once_start_one_service(place: Place) -> None:
    editors = [place.editor() for _ in range(10)]
    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda e=editor: results.append(initialize(e))) for editor in editors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert len(results) == 10 and all("inlineCompletionProvider" in r["capabilities"] for r in results)
    service = place.service()
    assert len(service["sessions"]) == 10
    assert sum(front_log(editor).count("starting the model service") for editor in editors) == 1
    runs = [
        pid
        for pid in (int(p.name) for p in Path("/proc").glob("[0-9]*"))
        if service["key"] in _cmdline(pid) and "service\0run" in _cmdline(pid)
    ]
    assert runs == [service["pid"]]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def test_a_service_of_another_version_is_refused_and_replaced(place: Place) -> None:
    old_env = {**place.env, VERSION_ENV: "0.0.0-old"}
    old_editor = place.editor(env=old_env)
    initialize(old_editor)
    old = place.service()
    assert old["copilot-lsp"] == "0.0.0-old"
    expected = Path(place.status()["expected"]["socket"])
    assert Path(old["socket"]) != expected  # versions never share a socket...
    os.rename(old["socket"], expected)  # ...unless one is put where the other looks

    editor = place.editor()
    initialize(editor)
    open_doc(editor, "file:///p/new.py")
    assert isinstance(complete(editor, "file:///p/new.py")["items"], list)
    refusals = [line for line in front_log(editor).splitlines() if "refusing" in line]
    assert len(refusals) == 1 and "is version 0.0.0-old" in refusals[0], front_log(editor)
    services = {service["pid"]: service for service in place.status()["services"]}
    assert old["pid"] not in services  # its socket was taken away: not found any more
    (new,) = services.values()
    assert new["copilot-lsp"] == __version__ and new["socket"] == str(expected)
    open_doc(old_editor, "file:///p/old.py")
    assert isinstance(complete(old_editor, "file:///p/old.py")["items"], list)  # the old one serves on

    old_editor.close()
    os.kill(old["pid"], signal.SIGTERM)
    wait_for(lambda: not alive(old["pid"]), "the old service leaves")
    assert expected.exists()  # leaving, it did not remove the socket that is no longer its own
    assert place.service()["pid"] == new["pid"]


def fake_service(path: Path, mode: int) -> tuple[socket.socket, list[bytes]]:
    """A listener at ``path`` that would answer a front as the right service does."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    path.chmod(mode)
    listener.listen(4)
    heard: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                heard.append(connection.recv(4096))
                key = path.name.removeprefix("service-").removesuffix(".sock")
                hello = {"copilot-lsp": __version__, "key": key, "pid": os.getpid(), "ok": True}
                connection.sendall(json.dumps(hello).encode() + b"\n")

    threading.Thread(target=serve, daemon=True).start()
    return listener, heard


def test_a_socket_others_may_use_is_refused_and_replaced(place: Place) -> None:
    expected = Path(place.status()["expected"]["socket"])
    listener, heard = fake_service(expected, 0o666)
    with listener:
        editor = place.editor()
        initialize(editor)
        open_doc(editor, "file:///p/a.py")
        assert isinstance(complete(editor, "file:///p/a.py")["items"], list)
        assert heard == []  # never even spoken to
        assert f"refusing {expected} has mode 0666: other users may connect to it" in front_log(editor)
        service = place.service()
        assert service["pid"] != os.getpid() and expected.stat().st_mode & 0o777 == 0o600
        assert (expected.parent.stat().st_mode & 0o777) == 0o700
    if os.getuid() != 0:
        return  # a socket of another user: only root can make one here
    assert place.cli("service", "stop").returncode == 0
    listener, heard = fake_service(expected, 0o600)
    with listener:
        os.chown(expected, 4242, -1)
        editor = place.editor()
        initialize(editor)
        assert heard == []
        assert f"refusing {expected} belongs to another user (uid 4242)" in front_log(editor)
        assert place.service()["pid"] != service["pid"]


def test_the_service_leaves_once_idle(place: Place) -> None:
    place.write_config("[service]\nidle_shutdown_s = 5\n")
    editor = place.editor()
    initialize(editor)
    service = place.service()
    assert editor.close() == 0  # shutdown, then exit: status 0
    ended = time.monotonic()
    assert place.service()["sessions"] == []  # still there with no session: the model stays loaded
    wait_for(lambda: not alive(service["pid"]), "the idle service leaves", timeout=60)
    assert time.monotonic() - ended >= 3.5  # not before service.idle_shutdown_s (5 s, less start-up slack)
    assert not Path(service["socket"]).exists()
    assert place.status()["services"] == []


def test_the_front_stays_light(place: Place) -> None:
    editor = place.editor([sys.executable, "-X", "importtime", *SERVE[1:]])
    initialize(editor)
    open_doc(editor, "file:///p/a.py")
    assert isinstance(complete(editor, "file:///p/a.py")["items"], list)
    front, service = editor.process.pid, place.service()["pid"]
    maps = Path(f"/proc/{front}/maps").read_text()
    assert "llama" not in maps and "tree_sitter" not in maps and str(place.model) not in maps
    front_kib, service_kib = rss_kib(front), rss_kib(service)
    assert front_kib < 64 * 1024 and front_kib * 2 < service_kib, (front_kib, service_kib)
    assert editor.close() == 0
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", front_log(editor), re.MULTILINE))
    assert "copilot.lsp.front" in imported
    heavy = {"llama_cpp", "tree_sitter", "lmdb", "numpy", "pygls.lsp.server", "lsprotocol"} & imported
    assert heavy == set()


def test_a_model_that_cannot_load_leaves_the_service_up(place: Place) -> None:
    options = {"model": {"path": str(place.root / "missing.gguf")}}
    pids = set()
    for _ in range(2):
        editor = place.editor()
        initialize(editor, options)
        open_doc(editor, "file:///p/a.py")
        assert complete(editor, "file:///p/a.py") == {"items": []}
        pids.add(place.service()["pid"])
        assert editor.close() == 0
    assert len(pids) == 1  # one service for both: it did not stop, nothing restarted it
    log = Path(place.service()["log"]).read_text()
    assert log.count("model file not found") == 2  # once per session


def test_exit_without_shutdown_is_status_1(place: Place) -> None:
    editor = place.editor()
    initialize(editor)
    editor.notify("exit", None)
    assert editor.process.wait(TIMEOUT_S) == 1
    wait_for(lambda: place.service()["sessions"] == [], "the session ends with its front")


@pytest.mark.parametrize("how", ["--per-window", "service.enabled", "initializationOptions", SERVICE_ENV])
def test_per_window_serves_without_a_service(place: Place, how: str) -> None:
    command, env = SERVE, place.env
    if how == "--per-window":
        command = [*SERVE, "--per-window"]
    elif how == "service.enabled":
        place.write_config("[service]\nenabled = false\n")
    elif how == SERVICE_ENV:
        env = {**place.env, SERVICE_ENV: "0"}
    editor = place.editor(command, env)
    initialize(editor, {"service": {"enabled": False}} if how == "initializationOptions" else None)
    open_doc(editor, "file:///p/a.py")
    assert isinstance(complete(editor, "file:///p/a.py")["items"], list)
    assert mapping(place.model) == {editor.process.pid}  # the model is in the editor's own process
    assert place.status()["services"] == []


def test_a_service_that_cannot_come_back_is_one_message_then_empty_answers(place: Place) -> None:
    editor = place.editor()
    initialize(editor)
    open_doc(editor, "file:///p/a.py")
    assert isinstance(complete(editor, "file:///p/a.py")["items"], list)
    service = place.service()
    folder = Path(service["socket"]).parent
    shutil.rmtree(folder)
    folder.write_text("")  # nowhere to start another one
    os.kill(service["pid"], signal.SIGKILL)
    wait_for(lambda: "went away" in front_log(editor), "the front sees the service go")
    assert complete(editor, "file:///p/a.py") == {"items": []}  # after the tries (0, 0.5 and 2 s apart)
    assert complete(editor, "file:///p/a.py", 0, 0) == {"items": []}
    shown = [m for m in list(editor.notifications.queue) if m["method"] == "window/showMessage"]
    assert len(shown) == 1 and "could not be restarted" in shown[0]["params"]["message"], shown
    assert editor.process.poll() is None  # still answering
    assert front_log(editor).count("cannot reach the model service") == 3
    assert editor.close() == 0


def test_each_editor_gets_the_config_file_as_it_is_when_it_starts(place: Place) -> None:
    first = place.editor()
    initialize(first)
    pid = place.service()["pid"]
    place.write_config("[completion]\nmax_token = 3\n")  # a typo: reported to the editors that start now
    second = place.editor()
    initialize(second)
    assert place.service()["pid"] == pid  # the same service (the model settings did not change)

    def shown(editor: StdioServer) -> list[str]:
        messages = list(editor.notifications.queue)
        return [m["params"]["message"] for m in messages if m["method"] == "window/showMessage"]

    wait_for(lambda: shown(second), "the second editor is told")
    assert "completion.max_token: unknown key" in shown(second)[0]
    assert shown(first) == []
