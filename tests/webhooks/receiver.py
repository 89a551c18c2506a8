"""A real HTTP receiver for webhook tests: answers with scripted status codes, records requests."""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    statuses: list[int] = field(default_factory=list)  # answered in turn; then `default_status`
    default_status: int = 200
    requests: list[Received] = field(default_factory=list)
    host: str = "127.0.0.1"  # any 127.x.y.z works on Linux
    port: int = 0
    tls: ssl.SSLContext | None = None  # a server context: serve https
    delay: float = 0.0  # seconds to wait before answering

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body, time.time()))
                status = receiver.statuses.pop(0) if receiver.statuses else receiver.default_status
                time.sleep(receiver.delay)
                reply = b'{"ok": true}' if status < 300 else b"receiver says no"
                self.send_response(status)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
