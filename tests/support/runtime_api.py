"""The Lambda Runtime API on 127.0.0.1, for running the function's image as Lambda runs it, without AWS.

A container image's entry point (`python3 -m awslambdaric handler.handler`) is a loop that asks the Runtime
API at `AWS_LAMBDA_RUNTIME_API` for the next event (`GET /2018-06-01/runtime/invocation/next`, which blocks
until there is one), runs the handler, and posts what it returned (`.../invocation/{id}/response`) or raised
(`.../invocation/{id}/error`); an import-time failure goes to `/runtime/init/error`. This is that API for one
function instance: `invoke(event)` queues an event and waits for the answer, as the Lambda service does.
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html)
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass
class Invocation:
    """One event delivered to the function, and what came back."""

    request_id: str
    event: Any
    deadline_ms: int
    delivered_at: float | None = None
    """time.monotonic() when the runtime fetched the event."""
    finished_at: float | None = None
    response: Any = None
    error: dict[str, Any] | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def seconds(self) -> float:
        """From the runtime fetching the event to its answer."""
        if self.delivered_at is None or self.finished_at is None:
            raise ValueError(f"invocation {self.request_id} has not finished")
        return self.finished_at - self.delivered_at


class InitError(RuntimeError):
    """The function failed before it could take an event (its cold start raised)."""


class RuntimeApi:
    """The Runtime API of one function instance, on 127.0.0.1 at a free port (`address`)."""

    def __init__(self, function_name: str = "imagery-archive-local", timeout_seconds: int = 900) -> None:
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        self.started_at = time.monotonic()
        self.first_poll_at: float | None = None
        """time.monotonic() of the runtime's first request for an event: its cold start is over."""
        self.init_error: dict[str, Any] | None = None
        self._pending: queue.Queue[Invocation | None] = queue.Queue()
        self._invocations: dict[str, Invocation] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="runtime-api", daemon=True)

    @property
    def address(self) -> str:
        """host:port, the value of `AWS_LAMBDA_RUNTIME_API`."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}" if isinstance(host, str) else f"{host.decode()}:{port}"

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def __enter__(self) -> RuntimeApi:
        self.started_at = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._pending.put(None)  # releases a runtime blocked on `next`
        self._server.shutdown()
        self._server.server_close()

    def wait_until_ready(self, timeout: float) -> float:
        """Wait for the runtime's first `next` request; returns seconds since the API started."""
        deadline = time.monotonic() + timeout
        while self.first_poll_at is None:
            if self.init_error is not None:
                raise InitError(json.dumps(self.init_error))
            if time.monotonic() > deadline:
                raise TimeoutError(f"the runtime did not ask for an event within {timeout:.0f} s")
            time.sleep(0.01)
        return self.first_poll_at - self.started_at

    def invoke(self, event: Any, timeout: float | None = None) -> Invocation:
        """Deliver `event` and wait for the function's answer (response or error)."""
        invocation = Invocation(
            request_id=str(uuid.uuid4()),
            event=event,
            deadline_ms=int((time.time() + self.timeout_seconds) * 1000),
        )
        with self._lock:
            self._invocations[invocation.request_id] = invocation
        self._pending.put(invocation)
        wait = timeout if timeout is not None else self.timeout_seconds
        deadline = time.monotonic() + wait
        while not invocation.done.wait(0.05):
            if self.init_error is not None:
                raise InitError(json.dumps(self.init_error))
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer to invocation {invocation.request_id} within {wait:.0f} s")
        return invocation

    # --- called by the HTTP handler -----------------------------------------------------------------------

    def _next(self) -> Invocation | None:
        if self.first_poll_at is None:
            self.first_poll_at = time.monotonic()
        invocation = self._pending.get()
        if invocation is not None:
            invocation.delivered_at = time.monotonic()
        return invocation

    def _finish(self, request_id: str, response: Any = None, error: dict[str, Any] | None = None) -> bool:
        with self._lock:
            invocation = self._invocations.get(request_id)
        if invocation is None or invocation.done.is_set():
            return False
        invocation.response, invocation.error = response, error
        invocation.finished_at = time.monotonic()
        invocation.done.set()
        return True


def _handler_for(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # the runtime client keeps its connection open

        def log_message(self, *_: object) -> None:  # no line per request
            pass

        def do_GET(self) -> None:
            if self.path != f"{PREFIX}/invocation/next":
                self._reply(404, {"errorMessage": f"unknown path {self.path}"})
                return
            invocation = api._next()
            if invocation is None:  # shutting down
                self._reply(410, {"errorMessage": "the runtime API is shutting down"})
                return
            self._reply(
                200,
                invocation.event,
                {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                },
            )

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = self.path.removeprefix(PREFIX).strip("/").split("/")
            if parts == ["init", "error"]:
                api.init_error = _json_or_text(body)
                self._reply(202, {"status": "OK"})
            elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                if parts[2] == "response":
                    known = api._finish(parts[1], response=_json_or_text(body))
                else:
                    known = api._finish(parts[1], error=_json_or_text(body))
                self._reply(202 if known else 400, {"status": "OK" if known else "unknown request id"})
            else:
                self._reply(404, {"errorMessage": f"unknown path {self.path}"})

        def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return {"raw": body.decode(errors="replace")}


def lambda_environment(api: RuntimeApi, memory_mib: int) -> dict[str, str]:
    """The variables Lambda sets in every function's environment (besides the function's own and credentials).

    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
    """
    return {
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": api.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mib),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{api.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "TZ": ":UTC",
        "_HANDLER": "handler.handler",
    }
