"""The sandbox server: every upstream on one local port, plus a control surface.

    from sandbox.server import SandboxServer
    with SandboxServer(seed=42) as srv:
        srv.set_clock(datetime(2024, 1, 5, 16, 0, tzinfo=KST))
        ...  # point real clients at srv.base_url

Upstream paths do not collide, so one base URL serves KRX (data portal and Open API), KIS,
Naver, OpenAI (``base_url + "/v1"``) and Telegram (``/bot<token>/...``). ``/_sandbox/...``
lets another process drive the clock, faults and inspection over HTTP.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Iterable
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.clock import SandboxClock
from sandbox.faults import Fault, FaultRegistry
from sandbox.kis import KisApi
from sandbox.krx import KrxDataPortal
from sandbox.krx_openapi import KrxOpenApi
from sandbox.market import Market
from sandbox.naver import NaverNews
from sandbox.news import Newsroom
from sandbox.openai_api import CHAT_PATH, MALFORMED, OpenAiApi
from sandbox.telegram_api import TelegramApi
from sandbox.universe import Universe, UniverseName
from sandbox.wire import Request, Response, read_http_body

CONTROL_PREFIX = "/_sandbox/"


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # benchmarks open dozens of connections at once

    def __init__(self, address: tuple[str, int], app: SandboxServer) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out (delay faults) and hung up is expected, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections as they do upstream
    disable_nagle_algorithm = True  # small writes must not wait for delayed ACKs (40 ms each)
    server: _HttpServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        return read_http_body(self.rfile, self.headers) or b""

    def _serve(self) -> None:
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=self._read_body(),
        )
        response = self.server.app.handle(request)
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log lives in SandboxServer.requests


class SandboxServer:
    """All upstreams on one port. Thread-safe; see the module docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        universe: UniverseName = "default",
        seed: int = 42,
        krx_member: tuple[str, str] = ("demo", "demo-pw"),
        krx_auth_key: str = "sandbox-krx-key",
        kis_app: tuple[str, str] = ("sandbox-app-key", "sandbox-app-secret"),
        naver_client: tuple[str, str] = ("sandbox-naver-id", "sandbox-naver-secret"),
        openai_api_key: str = "sk-sandbox",
        telegram_token: str = "123456:sandbox-token",  # noqa: S107 - a fake credential
        *,
        kis_rate_per_second: float = 20.0,
        naver_daily_quota: int = 25_000,
        telegram_blocked_chats: Iterable[int | str] = (),
        telegram_flood_control: bool = False,
        now: datetime | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self.seed = seed
        self.credentials = {
            "krx_member": krx_member,
            "krx_auth_key": krx_auth_key,
            "kis_app": kis_app,
            "naver_client": naver_client,
            "openai_api_key": openai_api_key,
            "telegram_token": telegram_token,
        }
        self.clock = SandboxClock()
        if now is not None:
            self.clock.set(now)
        self.universe = Universe(universe)
        self.market = Market(self.universe, seed)
        self.newsroom = Newsroom(self.market)
        self.krx = KrxDataPortal(self.market, self.clock, krx_member)
        self.krx_openapi = KrxOpenApi(self.market, self.clock, krx_auth_key)
        self.kis = KisApi(self.market, self.clock, kis_app, kis_rate_per_second)
        self.naver = NaverNews(self.newsroom, self.clock, naver_client, naver_daily_quota)
        self.openai = OpenAiApi(self.clock, openai_api_key)
        self.telegram = TelegramApi(self.clock, telegram_token, set(telegram_blocked_chats), telegram_flood_control)
        self.faults = FaultRegistry()
        self._log_lock = threading.Lock()
        self._requests: list[tuple[str, str]] = []
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> SandboxServer:
        """Serve on a background thread; returns self."""
        if self._http is not None:
            return self
        self._http = _HttpServer((self.host, self._port), self)
        self._port = int(self._http.server_address[1])
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-http", daemon=True
        )
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> None:
        """Block until the server stops (the CLI's foreground mode)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def warm(self, *days: date) -> None:
        """Compute every stock's prices for these days (default: the clock's last two sessions).

        The first request for a far-off day walks each stock's price history there (about a
        second for the full universe); benchmarks call this first so they time the client.
        """
        calendar = self.market.calendar
        if not days:
            today = self.clock.now().date()
            last = calendar.on_or_before(today)
            days = tuple(d for d in (last, calendar.previous(last) if last else None) if d is not None)
        for day in days:
            for stock in self.universe.stocks:
                self.market.bar(stock.code, day)

    def stop(self) -> None:
        http, thread = self._http, self._thread
        self._http, self._thread = None, None
        if http is not None:
            if thread is not None:
                http.shutdown()
            http.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    # ---- test controls ------------------------------------------------------------------------
    def set_clock(self, now: datetime) -> None:
        """Freeze the sandbox's "now" (aware datetime): market day, news visibility, token expiry."""
        self.clock.set(now)

    @property
    def telegram_messages(self) -> list[dict[str, Any]]:
        """Every accepted sendMessage body, oldest first (a snapshot)."""
        with self.telegram._lock:
            return [dict(m) for m in self.telegram.messages]

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every upstream request served, oldest first (a snapshot)."""
        with self._log_lock:
            return list(self._requests)

    def inject_fault(
        self,
        path_prefix: str,
        *,
        status: int | None = None,
        body: dict[str, Any] | str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """The next ``times`` requests under ``path_prefix`` get this answer instead of the normal one.

        ``status=None``: wait ``delay`` seconds, then answer normally — or, with ``body``, answer
        200 with that body; ``body="malformed"`` breaks the normal answer (for chat completions:
        a valid envelope whose content is not valid JSON; elsewhere: the body cut in half).
        """
        self.faults.add(Fault(path_prefix, status, body, dict(headers or {}), delay, times))

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset(self) -> None:
        """Forget messages, requests, faults, tokens, sessions and quota counters (not the clock)."""
        self.faults.clear()
        with self._log_lock:
            self._requests.clear()
        self.telegram.reset()
        self.kis.reset()
        self.krx.reset()
        self.naver.reset()

    def env(self) -> dict[str, str]:
        """StockInsight settings (environment variables) that point every client here."""
        krx_id, krx_pw = self.credentials["krx_member"]
        kis_key, kis_secret = self.credentials["kis_app"]
        naver_id, naver_secret = self.credentials["naver_client"]
        base = self.base_url
        return {
            "KRX_DATA_URL": base,
            "KRX_ID": krx_id,
            "KRX_PW": krx_pw,
            "KRX_OPENAPI_URL": base,
            "KRX_AUTH_KEY": str(self.credentials["krx_auth_key"]),
            "KIS_BASE_URL": base,
            "KIS_APP_KEY": kis_key,
            "KIS_APP_SECRET": kis_secret,
            "NAVER_BASE_URL": base,
            "NAVER_CLIENT_ID": naver_id,
            "NAVER_CLIENT_SECRET": naver_secret,
            "OPENAI_BASE_URL": f"{base}/v1",
            "OPENAI_API_KEY": str(self.credentials["openai_api_key"]),
            "TELEGRAM_BASE_URL": base,
            "TELEGRAM_BOT_TOKEN": str(self.credentials["telegram_token"]),
        }

    # ---- dispatch ---------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        """Answer one request (usable without sockets)."""
        try:
            if req.path.startswith(CONTROL_PREFIX):
                return self._control(req)
            with self._log_lock:
                self._requests.append((req.method, req.path))
            fault = self.faults.take(req.path)
            if fault is None:
                return self._route(req)
            return self._faulted(req, fault)
        except Exception as exc:  # a sandbox bug must not look like a hung upstream
            traceback.print_exc(file=sys.stderr)
            return Response.json({"error": f"sandbox internal error: {exc!r}"}, 500)

    def _route(self, req: Request) -> Response:
        for upstream in (self.krx, self.krx_openapi, self.kis, self.naver, self.openai, self.telegram):
            response = upstream.handle(req)
            if response is not None:
                return response
        return Response.text("Not Found", 404)

    def _faulted(self, req: Request, fault: Fault) -> Response:
        if fault.delay > 0:
            time.sleep(fault.delay)
        extra = list((fault.headers or {}).items())
        if fault.status is not None:
            if isinstance(fault.body, dict):
                response = Response.json(fault.body, fault.status)
            elif isinstance(fault.body, str):
                response = Response.text(fault.body, fault.status)
            else:
                response = Response(fault.status, b"", [("Content-Type", "text/plain; charset=utf-8")])
        elif fault.body == MALFORMED:
            if req.path == CHAT_PATH:
                req.fault_body = MALFORMED
                response = self._route(req)
            else:
                response = self._route(req)
                response.body = response.body[: len(response.body) // 2]
        elif isinstance(fault.body, dict):
            response = Response.json(fault.body)
        elif isinstance(fault.body, str):
            response = Response.text(fault.body, content_type="text/html; charset=utf-8")
        else:
            response = self._route(req)
        response.headers.extend(extra)
        return response

    def _control(self, req: Request) -> Response:
        action = req.path.removeprefix(CONTROL_PREFIX).rstrip("/")
        try:
            body = req.json() if req.body else {}
        except ValueError:
            return Response.json({"ok": False, "error": "body must be JSON"}, 400)
        if not isinstance(body, dict):
            return Response.json({"ok": False, "error": "body must be a JSON object"}, 400)
        if action == "clock" and req.method == "POST":
            try:
                now = datetime.fromisoformat(str(body["now"]))
                self.set_clock(now)
            except (KeyError, ValueError) as exc:
                return Response.json({"ok": False, "error": f"need an aware ISO datetime in 'now': {exc}"}, 400)
            return Response.json({"ok": True, "now": self.clock.now().isoformat()})
        if action == "clock" and req.method == "GET":
            return Response.json({"ok": True, "now": self.clock.now().isoformat()})
        if action == "faults" and req.method == "POST":
            try:
                self.inject_fault(
                    str(body["path_prefix"]),
                    status=body.get("status"),
                    body=body.get("body"),
                    headers=body.get("headers"),
                    delay=float(body.get("delay", 0.0)),
                    times=int(body.get("times", 1)),
                )
            except (KeyError, ValueError, TypeError) as exc:
                return Response.json({"ok": False, "error": f"bad fault: {exc!r}"}, 400)
            return Response.json({"ok": True})
        if action == "faults" and req.method == "DELETE":
            self.clear_faults()
            return Response.json({"ok": True})
        if action == "telegram/messages" and req.method == "GET":
            return Response.json({"ok": True, "messages": self.telegram_messages})
        if action == "requests" and req.method == "GET":
            return Response.json({"ok": True, "requests": [list(r) for r in self.requests]})
        if action == "reset" and req.method == "POST":
            self.reset()
            return Response.json({"ok": True})
        if action == "health":
            return Response.json({"ok": True, "universe": self.universe.name, "stocks": len(self.universe),
                                  "seed": self.seed, "now": self.clock.now().isoformat()})  # fmt: skip
        return Response.json({"ok": False, "error": f"unknown control {req.method} {req.path}"}, 404)


__all__ = ["SandboxServer"]
