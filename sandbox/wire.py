"""Transport-neutral request/response values shared by every upstream emulation.

Each upstream module turns a :class:`Request` into a :class:`Response`; only
``sandbox/server.py`` knows about sockets. That keeps the emulations unit-testable and lets
the server apply faults, logging and the control surface uniformly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.cookies import SimpleCookie
from io import BufferedIOBase
from typing import Any
from urllib.parse import parse_qs


@dataclass(slots=True)
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    # Set by fault injection: a 200 answer whose content is broken in an upstream-specific way.
    fault_body: str | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body as JSON; raises ValueError on anything else."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        """URL-encoded or multipart form fields (first value of each)."""
        if self.content_type == "multipart/form-data":
            return self._multipart()
        parsed = parse_qs(self.body.decode("utf-8", errors="replace"), keep_blank_values=True)
        return {key: values[0] for key, values in parsed.items()}

    def _multipart(self) -> dict[str, str]:
        head = f"Content-Type: {self.header('content-type')}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + self.body)
        fields: dict[str, str] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = payload.decode("utf-8", errors="replace")
        return fields

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.header("cookie") or "")
        except Exception:  # a malformed Cookie header is ignored, as servers do
            return {}
        return {key: morsel.value for key, morsel in jar.items()}


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(
        cls,
        payload: Any,
        status: int = 200,
        *,
        content_type: str = "application/json; charset=utf-8",
        headers: list[tuple[str, str]] | None = None,
    ) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, body, [("Content-Type", content_type), *(headers or [])])

    @classmethod
    def text(
        cls,
        text: str,
        status: int = 200,
        *,
        content_type: str = "text/plain; charset=utf-8",
        headers: list[tuple[str, str]] | None = None,
    ) -> Response:
        return cls(status, text.encode("utf-8"), [("Content-Type", content_type), *(headers or [])])


def read_http_body(rfile: BufferedIOBase, headers: Any, *, max_bytes: int | None = None) -> bytes | None:
    """A request body from a stdlib HTTP handler: Content-Length or chunked.

    Returns None when the body is larger than `max_bytes`. The sandbox and the local
    runner's API gateway both read bodies this way.
    """
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers are not used
                return b"".join(chunks)
            total += size
            if max_bytes is not None and total > max_bytes:
                return None
            chunks.append(rfile.read(size))
            rfile.readline()
    length = int(headers.get("Content-Length") or 0)
    if max_bytes is not None and length > max_bytes:
        return None
    return rfile.read(length) if length > 0 else b""
