"""A request id on every response (`X-Request-ID`) and every log line.

Behind API Gateway it is the gateway's own request id (so a client's report, the access
log and our logs agree); elsewhere an incoming well-formed `X-Request-ID` is kept, or
one is generated. Pure ASGI, so it also wraps error responses.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.observability import logger

HEADER = "X-Request-ID"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._:=-]{8,128}$")


def request_id_for(scope: Scope) -> str:
    event: Any = scope.get("aws.event")
    if isinstance(event, dict):
        gateway_id: object = event.get("requestContext", {}).get("requestId")
        if isinstance(gateway_id, str) and gateway_id:
            return str(gateway_id)
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate: str = bytes(value).decode("latin-1")
            if _WELL_FORMED.match(candidate):
                return candidate
    return str(uuid.uuid4())


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        logger.set_correlation_id(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)
