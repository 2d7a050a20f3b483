"""A tiny scriptable HTTP server for tests: records every request, answers with queued failures first.

Each fake runs ``http.server.ThreadingHTTPServer`` on 127.0.0.1 with an OS-chosen port in a
daemon thread. Use it as a context manager (or ``start()`` / ``stop()``) from a pytest fixture::

    with FakeSlack() as slack:
        client = WebClient(token=slack.token, base_url=slack.api_url)

Scripting: :meth:`FakeServer.fail_next` queues failures (an HTTP status with optional headers and
body, and/or a delay before answering, longer than the client's timeout to simulate one). The
next matching request consumes the first matching failure and is *not* processed: nothing is
posted or paged for it, as if the receiver had been down (unless the failure says ``processed``:
then the receiver did the work and only the answer is lost). :meth:`FakeServer.outage` takes the
receiver down for a while instead: every request answers with the next of some failures, in turn,
for as long as a condition holds (a fake clock's time, or :func:`for_seconds` of real time).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl


@dataclass
class Failure:
    """A scripted answer for the next request to ``method`` (``None``: any method)."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    method: str | None = None
    processed: bool = False  # the request takes effect, only its answer is this failure (a lost response)


@dataclass
class RecordedRequest:
    """One request as the fake received it, and the status it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    status: int = 0
    ok: bool | None = None  # the API's own verdict where it has one (Slack's ``ok``)


class FakeServer:
    """Base of the fakes: subclasses implement :meth:`handle` and :meth:`method_of`."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._failures: deque[Failure] = deque()
        self._outage: tuple[Callable[[], bool], Iterator[Failure]] | None = None
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, body = fake._dispatch(self.path, dict(self.headers.items()), raw)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting and inspection ---------------------------------------------------------------

    def fail_next(self, status: int = 500, *, count: int = 1, method: str | None = None, body: Any = None,
                  headers: dict[str, str] | None = None, delay: float = 0.0, processed: bool = False) -> None:
        """Answer the next ``count`` requests to ``method`` with ``status`` (after ``delay`` seconds).

        With ``processed=True`` the request is carried out first and only its answer is lost: the
        receiver did the work, the client saw an error or (with a delay past its timeout) nothing.
        """
        with self._lock:
            for _ in range(count):
                self._failures.append(Failure(status, body, dict(headers or {}), delay, method, processed))

    def outage(self, active: Callable[[], bool], failures: Sequence[Failure]) -> None:
        """While ``active()`` is true, answer every request with the next of ``failures`` (cycled)."""
        with self._lock:
            self._outage = (active, itertools.cycle(list(failures)))

    @property
    def pending_failures(self) -> int:
        with self._lock:
            return len(self._failures)

    def calls(self, method: str, *, succeeded: bool = True) -> list[RecordedRequest]:
        """Recorded requests to ``method``, by default only those answered with success."""
        with self._lock:
            return [r for r in self.requests if r.method == method and (not succeeded or self.succeeded(r))]

    def succeeded(self, request: RecordedRequest) -> bool:
        return 200 <= request.status < 300

    # -- for subclasses -------------------------------------------------------------------------

    def method_of(self, path: str) -> str:
        return path

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError

    def failure_body(self, failure: Failure) -> Any:
        return failure.body if failure.body is not None else {"error": f"scripted {failure.status}"}

    # -- internals ------------------------------------------------------------------------------

    def _dispatch(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        method = self.method_of(path)
        request = RecordedRequest(method, path, headers, _parse_body(headers, raw), raw)
        with self._lock:
            self.requests.append(request)
            failure = next((f for f in self._failures if f.method in (None, method)), None)
            if failure is not None:
                self._failures.remove(failure)
            elif self._outage is not None and self._outage[0]():
                failure = next(self._outage[1])
        if failure is not None:
            if failure.processed:
                with self._lock:
                    self.handle(request)
            if failure.delay:
                self._stopping.wait(failure.delay)
            status, answer_headers, body = failure.status, failure.headers, self.failure_body(failure)
        else:
            with self._lock:
                status, answer_headers, body = self.handle(request)
        request.status = status
        if isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body).encode()
            answer_headers = {"Content-Type": "application/json; charset=utf-8", **answer_headers}
        return status, answer_headers, payload


def for_seconds(seconds: float) -> Callable[[], bool]:
    """An outage condition: true for ``seconds`` of real time from the first request that asks."""
    started: list[float] = []

    def active() -> bool:
        now = time.monotonic()
        if not started:
            started.append(now)
        return now - started[0] < seconds

    return active


def _parse_body(headers: dict[str, str], raw: bytes) -> Any:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if "json" in content_type:
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return raw
