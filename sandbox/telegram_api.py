"""Telegram Bot API: ``sendMessage`` with entity parsing, blocked chats and optional flood control.

Messages are validated the way Telegram does (text length counted after entity parsing, HTML
tag whitelist, MarkdownV2 reserved characters), so formatting bugs in the notifier fail here
rather than in production. Accepted requests are recorded for assertions.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from sandbox.clock import SandboxClock
from sandbox.ratelimit import TokenBucket, retry_after_seconds
from sandbox.wire import Request, Response

MAX_TEXT = 4096
_PATH_RE = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote",
              "tg-spoiler", "span", "tg-emoji"}  # fmt: skip
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_MD2_RESERVED = set("_*[]()~`>#+-=|{}.!")


class EntityError(ValueError):
    """Text that Telegram cannot parse in the requested parse_mode."""


def _offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def parse_html(text: str) -> str:
    """Plain text of a Telegram-HTML message; raises EntityError like the real parser."""
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            end = text.find(">", i)
            if end == -1:
                raise EntityError(f"Unclosed start tag at byte offset {_offset(text, i)}")
            inner = text[i + 1 : end].strip()
            if inner.startswith("/"):
                name = inner[1:].strip().lower()
                if not stack:
                    raise EntityError(f"Unexpected end tag at byte offset {_offset(text, i)}")
                if stack[-1][0] != name:
                    raise EntityError(
                        f'Unmatched end tag at byte offset {_offset(text, i)}, expected "</{stack[-1][0]}>", '
                        f'found "</{name}>"'
                    )
                stack.pop()
            else:
                name = inner.split()[0].lower() if inner else ""
                if name not in _HTML_TAGS:
                    raise EntityError(f'Unsupported start tag "{name}" at byte offset {_offset(text, i)}')
                if name == "span" and 'class="tg-spoiler"' not in inner:
                    raise EntityError(f'Tag "span" must have class "tg-spoiler" at byte offset {_offset(text, i)}')
                stack.append((name, i))
            i = end + 1
        elif ch == "&":
            match = _ENTITY_RE.match(text, i)
            if match is None:
                raise EntityError(f"Character entity expected at byte offset {_offset(text, i)}")
            ref = match.group(1)
            if ref.startswith("#x"):
                out.append(chr(int(ref[2:], 16)))
            elif ref.startswith("#"):
                out.append(chr(int(ref[1:])))
            elif ref in _NAMED_ENTITIES:
                out.append(_NAMED_ENTITIES[ref])
            else:
                raise EntityError(f'Unsupported HTML entity "&{ref};" at byte offset {_offset(text, i)}')
            i = match.end()
        else:
            out.append(ch)
            i += 1
    if stack:
        name = stack[-1][0]
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{name}"')
    return "".join(out)


def parse_markdown_v2(text: str) -> str:
    """Plain text of a MarkdownV2 message; reserved characters must be escaped."""
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    names = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough", "||": "Spoiler",
             "`": "Code", "```": "Pre", "[": "TextUrl"}  # fmt: skip
    i = 0
    at_line_start = True
    while i < len(text):
        ch = text[i]
        in_code = bool(stack) and stack[-1][0] in ("`", "```")
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            at_line_start = False
            continue
        if in_code:
            closer = stack[-1][0]
            if text.startswith(closer, i):
                stack.pop()
                i += len(closer)
            else:
                out.append(ch)
                i += 1
            continue
        token = next((t for t in ("```", "__", "||") if text.startswith(t, i)), ch)
        if token in ("*", "_", "__", "~", "||", "`", "```"):
            if stack and stack[-1][0] == token:
                stack.pop()
            else:
                stack.append((token, i))
            i += len(token)
        elif ch == "[":
            stack.append(("[", i))
            i += 1
        elif ch == "]":
            if not stack or stack[-1][0] != "[":
                raise EntityError("Character ']' is reserved and must be escaped with the preceding '\\'")
            stack.pop()
            if not text.startswith("(", i + 1):
                raise EntityError("Character ']' is reserved and must be escaped with the preceding '\\'")
            close = text.find(")", i + 2)
            if close == -1:
                raise EntityError(f"Can't find end of a URL at byte offset {_offset(text, i)}")
            i = close + 1
        elif ch == ">" and at_line_start:
            i += 1  # blockquote marker
        elif ch in _MD2_RESERVED:
            raise EntityError(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
        else:
            out.append(ch)
            i += 1
        at_line_start = ch == "\n"
    if stack:
        token, start = stack[-1]
        raise EntityError(f"Can't find end of {names[token]} entity at byte offset {_offset(text, start)}")
    return "".join(out)


def parse_markdown(text: str) -> str:
    """Legacy Markdown: only * _ ` ``` and [text](url), no escaping of anything else."""
    out: list[str] = []
    i = 0
    while i < len(text):
        for token in ("```", "*", "_", "`"):
            if text.startswith(token, i):
                end = text.find(token, i + len(token))
                if end == -1:
                    raise EntityError(f"Can't find end of the entity starting at byte offset {_offset(text, i)}")
                out.append(text[i + len(token) : end])
                i = end + len(token)
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _normalise(fields: dict[str, Any]) -> dict[str, Any]:
    """Form posts carry everything as strings: decode ids and JSON-valued fields."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, str):
            stripped = value.strip()
            if key == "chat_id" and re.fullmatch(r"-?\d+", stripped):
                value = int(stripped)
            elif stripped[:1] in ("{", "[") or stripped in ("true", "false"):
                try:
                    value = json.loads(stripped)
                except ValueError:
                    pass  # not JSON after all: Telegram keeps such a field as the string it was
        out[key] = value
    return out


def _fail(status: int, description: str, **parameters: Any) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Response.json(body, status)


class TelegramApi:
    def __init__(
        self,
        clock: SandboxClock,
        token: str,
        blocked_chats: set[int | str],
        flood_control: bool,
    ) -> None:
        self.clock = clock
        self.token = token
        self.blocked = {str(chat) for chat in blocked_chats}
        self.flood_control = flood_control
        self._per_chat = TokenBucket(rate=1.0, capacity=3.0)
        self._overall = TokenBucket(rate=30.0, capacity=30.0)
        self._lock = threading.Lock()
        self._flood_lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self._next_id: dict[str, int] = {}
        self.bot_id = int(token.split(":")[0]) if token.split(":")[0].isdigit() else 1

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self._next_id.clear()
        self._per_chat.reset()
        self._overall.reset()

    def handle(self, req: Request) -> Response | None:
        match = _PATH_RE.match(req.path)
        if match is None:
            return None
        if match.group("token") != self.token:
            return _fail(401, "Unauthorized")
        method = match.group("method").lower()
        if method == "getme":
            return Response.json({"ok": True, "result": self._bot()})
        if method != "sendmessage":
            return _fail(404, "Not Found")
        try:
            fields = self._fields(req)
        except ValueError:
            return _fail(400, "Bad Request: can't parse JSON object")
        return self._send(fields)

    @staticmethod
    def _fields(req: Request) -> dict[str, Any]:
        fields: dict[str, Any] = {key: values[0] for key, values in req.query.items()}
        if req.body:
            if req.content_type == "application/json":
                body = req.json()
                if not isinstance(body, dict):
                    raise ValueError("not an object")
                fields.update(body)
            else:
                fields.update(req.form())
        return _normalise(fields)

    def _bot(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "StockInsight Sandbox",
                "username": "stockinsight_sandbox_bot", "can_join_groups": True,
                "can_read_all_group_messages": False, "supports_inline_queries": False}  # fmt: skip

    def _send(self, fields: dict[str, Any]) -> Response:
        chat_id = fields.get("chat_id")
        if chat_id is None or chat_id == "":
            return _fail(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int) and not (isinstance(chat_id, str) and re.fullmatch(r"@\w{4,}", chat_id)):
            return _fail(400, "Bad Request: chat not found")
        text = fields.get("text")
        if not isinstance(text, str) or not text.strip():
            return _fail(400, "Bad Request: message text is empty")
        mode = str(fields.get("parse_mode") or "")
        try:
            if mode.upper() == "HTML":
                plain = parse_html(text)
            elif mode == "MarkdownV2":
                plain = parse_markdown_v2(text)
            elif mode == "Markdown":
                plain = parse_markdown(text)
            elif mode:
                return _fail(400, f'Bad Request: unsupported parse_mode "{mode}"')
            else:
                plain = text
        except EntityError as exc:
            return _fail(400, f"Bad Request: can't parse entities: {exc}")
        if not plain.strip():
            return _fail(400, "Bad Request: message text is empty")
        if len(plain) > MAX_TEXT:
            return _fail(400, "Bad Request: message is too long")
        if str(chat_id) in self.blocked:
            return _fail(403, "Forbidden: bot was blocked by the user")
        if self.flood_control:
            with self._flood_lock:
                chat_key = str(chat_id)
                wait = max(self._overall.wait_needed("all", take=False),
                           self._per_chat.wait_needed(chat_key, take=False))  # fmt: skip
                if wait > 0:
                    seconds = retry_after_seconds(wait)
                    return _fail(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
                self._overall.wait_needed("all")
                self._per_chat.wait_needed(chat_key)
        now = self.clock.now()
        with self._lock:
            message_id = self._next_id.get(str(chat_id), 0) + 1
            self._next_id[str(chat_id)] = message_id
            self.messages.append(dict(fields))
        return Response.json({"ok": True, "result": {
            "message_id": message_id,
            "from": {k: v for k, v in self._bot().items() if k in ("id", "is_bot", "first_name", "username")},
            "chat": self._chat(chat_id),
            "date": int(now.timestamp()),
            "text": plain,
        }})  # fmt: skip

    @staticmethod
    def _chat(chat_id: int | str) -> dict[str, Any]:
        if isinstance(chat_id, str):
            return {"id": -1001000000000 - (sum(map(ord, chat_id)) % 10**6), "title": chat_id[1:],
                    "username": chat_id[1:], "type": "channel"}  # fmt: skip
        if chat_id < 0:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            return {"id": chat_id, "title": "StockInsight", "type": kind}
        return {"id": chat_id, "first_name": "Sandbox", "type": "private"}
