"""A local API Gateway (HTTP API): HTTP request → payload v2.0 event → handler → HTTP response.

The api function runs exactly as behind the deployed HTTP API: its Mangum adapter gets a
v2.0 event and its response (statusCode, headers, cookies, base64 bodies) is written back
the way API Gateway would. Invocations run on one worker thread with its own event loop,
like a single warm Lambda container handling one request at a time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from contextlib import ExitStack
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from runner.events import HttpRequest, http_api_event, match_route
from runner.invoke import function_environment, invoke, lambda_context, load_handler
from runner.template import FunctionSpec
from sandbox.wire import read_http_body

log = logging.getLogger(__name__)

# Headers the gateway owns on the way out (framing is recomputed for the actual body).
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"})
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit


class MalformedResponseError(ValueError):
    """The function returned something API Gateway cannot turn into an HTTP response."""


@dataclass(frozen=True, slots=True)
class GatewayResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def request_target(path: str) -> str:
    """The request target as the client wrote it.

    http.server decodes the request line as ISO-8859-1; a client that sends UTF-8 unescaped
    (curl with `?q=반도체`) means UTF-8, and API Gateway reads it so. Percent-escaped targets,
    plain ASCII, are unchanged either way.
    """
    try:
        return path.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return path


def _json_error(status: int, message: str) -> GatewayResponse:
    return GatewayResponse(status, [("content-type", "application/json")], json.dumps({"message": message}).encode())


def gateway_response(result: Any) -> GatewayResponse:
    """A handler's return value as HTTP, per the v2.0 response format.

    A dict with `statusCode` is taken as is; anything else (a plain dict, list, string)
    is what HTTP API then does with it: a 200 with the value as a JSON body.
    """
    if not (isinstance(result, Mapping) and "statusCode" in result):
        return GatewayResponse(200, [("content-type", "application/json")], json.dumps(result).encode())
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        raise MalformedResponseError(f"statusCode {result['statusCode']!r} is not a number") from None
    if not 100 <= status <= 599:
        raise MalformedResponseError(f"statusCode {status} is out of range")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), str(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if not isinstance(values, list):
            raise MalformedResponseError(f"multiValueHeaders[{name!r}] is not a list")
        headers.extend((str(name), str(value)) for value in values)
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise MalformedResponseError("cookies is not a list")
    headers.extend(("set-cookie", str(cookie)) for cookie in cookies)
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif not isinstance(raw_body, str):
        body = json.dumps(raw_body).encode()
    elif result.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw_body, validate=True)
        except ValueError:
            raise MalformedResponseError("isBase64Encoded is true but body is not base64") from None
    else:
        body = raw_body.encode("utf-8")
    return GatewayResponse(status, headers, body)


DOCS_PATHS = ("/docs", "/api/docs")


def find_docs_url(base_url: str) -> str | None:
    """Where the served app keeps its interactive OpenAPI docs (FastAPI's /docs, or under /api)."""
    import httpx

    with httpx.Client(base_url=base_url, timeout=30) as client:
        for path in DOCS_PATHS:
            try:
                if client.get(path).status_code == 200:
                    return f"{base_url}{path}"
            except httpx.HTTPError:
                return None
    return None


def _fresh_event_loop() -> None:
    # Mangum drives the ASGI app with the thread's event loop; a worker thread has none.
    asyncio.set_event_loop(asyncio.new_event_loop())


class ApiGateway:
    """Serves one function over HTTP on host:port (port 0 picks a free one)."""

    def __init__(
        self,
        function: FunctionSpec,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        stage: str = "$default",
        access_log: bool = True,
    ) -> None:
        self.function = function
        self.stage = stage
        self.access_log = access_log
        self._routes = [(route.method, route.path) for route in function.http_routes] or [("ANY", "$default")]
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"lambda-{function.name}", initializer=_fresh_event_loop
        )
        self._server = ThreadingHTTPServer((host, port), self._request_handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._environment = ExitStack()
        self.last_event: dict[str, Any] | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _prepare(self) -> None:
        self._environment.enter_context(function_environment(self.function))
        # Import now, on the invocation thread: a broken handler fails the start, not a request.
        self._executor.submit(load_handler, self.function).result()

    def start(self) -> ApiGateway:
        """Serve in a background thread (tests, the demo)."""
        self._prepare()
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-gateway", daemon=True)
        self._thread.start()
        return self

    def wait(self) -> None:
        """Block while serving in the background; Ctrl-C (KeyboardInterrupt) reaches the caller."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._environment.close()

    def __enter__(self) -> ApiGateway:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ requests

    def handle(self, request: HttpRequest) -> tuple[GatewayResponse, str]:
        """One request through route matching, the handler and response mapping."""
        request_id = str(uuid.uuid4())
        match = match_route(request.method, request.raw_path, self._routes)
        if match is None:
            return _json_error(404, "Not Found"), request_id
        event = http_api_event(
            request,
            route_key=match.route_key,
            path_parameters=match.path_parameters,
            stage=self.stage,
            request_id=request_id,
        )
        self.last_event = event
        context = lambda_context(self.function, request_id=request_id)
        future = self._executor.submit(invoke, self.function, event, context=context, apply_environment=False)
        try:
            invocation = future.result(timeout=self.function.timeout_seconds + 1)
            return gateway_response(invocation.result), request_id
        except FutureTimeoutError:
            log.error("%s timed out after %ss", self.function.name, self.function.timeout_seconds)
            return _json_error(503, "Service Unavailable"), request_id
        except MalformedResponseError as exc:
            log.error("%s returned a malformed response: %s", self.function.name, exc)
            return _json_error(500, "Internal Server Error"), request_id
        except Exception:
            log.exception("%s raised while handling %s %s", self.function.name, request.method, request.raw_path)
            return _json_error(500, "Internal Server Error"), request_id

    def _request_handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class LambdaProxyHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "stockinsight-local-gateway"

            def _read_body(self) -> bytes | None:
                return read_http_body(self.rfile, self.headers, max_bytes=MAX_REQUEST_BYTES)

            def _serve(self) -> None:
                started = time.perf_counter()
                body = self._read_body()
                target = urlsplit(request_target(self.path))
                request_id = "-"
                if body is None:
                    response = _json_error(413, "Request Entity Too Large")
                    self.close_connection = True
                else:
                    request = HttpRequest(
                        method=self.command,
                        raw_path=target.path or "/",
                        raw_query=target.query,
                        headers=list(self.headers.items()),
                        body=body,
                        source_ip=self.client_address[0],
                        protocol=self.request_version,
                    )
                    response, request_id = gateway.handle(request)
                self.send_response(response.status)
                for name, value in response.headers:
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.send_header("apigw-requestid", request_id)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)
                if gateway.access_log:
                    elapsed = (time.perf_counter() - started) * 1000
                    print(f"{self.command} {self.path} {response.status} {elapsed:.0f}ms", file=sys.stderr, flush=True)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                """The access line is printed in `_serve`; http.server's own lines stay quiet."""

        return LambdaProxyHandler
