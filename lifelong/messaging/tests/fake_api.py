"""A provider API stand-in for transport tests: a real HTTP server on 127.0.0.1.

It records every request as it arrived on the wire and answers with the responses the
test queued, in order; with none queued, with the answer `route` set for the request's
path (a provider with several endpoints hit in one dispatch run, such as MAX's /messages
and /answers), else a default answer. `delay` makes it hold the answer, which is
how a read timeout after the request was sent looks to the client.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclasses.dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclasses.dataclass
class Reply:
    status: int = 200
    body: Any = dataclasses.field(default_factory=dict)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0


class FakeApi:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        self.routes: dict[str, Reply] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urllib.parse.urlsplit(self.path)
                api.requests.append(
                    Recorded(
                        method=self.command,
                        path=parts.path,
                        query=urllib.parse.parse_qs(parts.query, keep_blank_values=True),
                        headers={key.lower(): value for key, value in self.headers.items()},
                        body=self.rfile.read(length),
                    )
                )
                if api.replies:
                    reply = api.replies.popleft()
                else:
                    reply = api.routes.get(parts.path, api.default)
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body
                if not isinstance(body, bytes):
                    body = (body if isinstance(body, str) else json.dumps(body)).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up waiting (timeout tests)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        # A short poll keeps shutdown (once per test) quick.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def reply(self, status: int = 200, body: Any = None, **kwargs: Any) -> None:
        self.replies.append(Reply(status=status, body={} if body is None else body, **kwargs))

    def route(self, path: str, status: int = 200, body: Any = None) -> None:
        """The answer to every request for `path` while nothing is queued."""
        self.routes[path] = Reply(status=status, body={} if body is None else body)

    def at(self, path: str) -> list[Recorded]:
        return [request for request in self.requests if request.path == path]

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def __enter__(self) -> FakeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    """A local URL nothing listens on: connecting is refused before anything is sent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
