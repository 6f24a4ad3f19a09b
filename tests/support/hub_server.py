"""A stand-in for the Hugging Face hub on loopback: the file-resolve endpoint the hub client
uses (HEAD for metadata, GET with Range for resumable downloads), with faults on demand.

    with HubServer({"org/repo/model.gguf": data}) as hub:
        ... HF_ENDPOINT=hub.url ...
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubFaults:
    cut_after: int | None = None  # a GET stops sending after this many bytes of the file...
    cuts: int = 0  # ...this many times (then the connection closes mid-body)
    stall_after: int | None = None  # a GET sends this many bytes, then waits until released
    release: threading.Event = field(default_factory=threading.Event)
    stalled: threading.Event = field(default_factory=threading.Event)
    corrupt: bool = False  # serve different bytes than the checksum announces


class HubServer:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.faults = HubFaults()
        self.requests: list[dict[str, Any]] = []  # method, path, range
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def _file(self) -> tuple[str, bytes] | None:
                # /{org}/{repo}/resolve/{revision}/{file}
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return None
                key = "/".join([parts[0], parts[1], *parts[4:]])
                return (key, hub.files[key]) if key in hub.files else None

            def _headers(self, data: bytes, status: int, start: int) -> None:
                self.send_response(status)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()

            def do_HEAD(self) -> None:
                found = self._file()
                hub.requests.append({"method": "HEAD", "path": self.path, "range": None})
                if found is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._headers(found[1], 200, 0)

            def do_GET(self) -> None:
                found = self._file()
                requested = self.headers.get("Range")
                hub.requests.append({"method": "GET", "path": self.path, "range": requested})
                if found is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = found[1]
                start = int(requested.split("=")[1].split("-")[0]) if requested else 0
                self._headers(data, 206 if start else 200, start)
                body = data[start:]
                if hub.faults.corrupt:
                    body = bytes(b ^ 0xFF for b in body[:16]) + body[16:]
                faults = hub.faults
                if faults.stall_after is not None and start < faults.stall_after:
                    self.wfile.write(body[: faults.stall_after - start])
                    self.wfile.flush()
                    faults.stalled.set()
                    faults.release.wait(60)
                    self.close_connection = True
                    return
                if faults.cut_after is not None and faults.cuts > 0 and start < faults.cut_after:
                    faults.cuts -= 1
                    self.wfile.write(body[: faults.cut_after - start])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.faults.release.set()
        self._server.shutdown()
        self._server.server_close()

    def gets(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "GET"]
