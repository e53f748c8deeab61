"""OpenAI Chat Completions (with strict Structured Outputs) and Embeddings, answered offline.

Chat answers are deterministic in the request: content is generated from the
``response_format`` JSON schema, with StockInsight's prediction fields given meaning — an enum
with up/down-like values follows the balance of positive and negative Korean finance words in
the user messages, ``probability`` lies in [0.5, 0.9], ``expected_return`` within ±3 %, and an
integer ``*_ids`` array cites ``[id=N]`` markers found in the prompt. Embeddings are unit
vectors mixing a per-text random direction with hashed word features, so texts that share
words are closer than texts that do not (retrieval behaves plausibly).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import operator
import random
import re
import struct
from array import array
from typing import Any, Literal

from sandbox import vocabulary as vocab
from sandbox.clock import SandboxClock
from sandbox.wire import Request, Response

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"
MALFORMED = "malformed"

_MODEL_SNAPSHOTS = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
}
_EMBEDDING_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
_ID_RE = re.compile(r"\[id=(\d+)\]")
_WORD_RE = re.compile(r"\w+")

Direction = Literal["up", "down", "flat"]
_UP = ("up", "rise", "bull", "positive", "buy", "long", "상승", "increase", "gain", "higher", "호재")
_DOWN = ("down", "fall", "bear", "negative", "sell", "short", "하락", "decrease", "drop", "lower", "악재")
_FLAT = ("flat", "neutral", "hold", "sideways", "보합", "unchanged", "mixed", "none")


def _error(status: int, message: str, *, kind: str = "invalid_request_error", param: str | None = None,
           code: str | None = None) -> Response:  # fmt: skip
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    request_id = f"req_{hashlib.sha256(message.encode()).hexdigest()[:32]}"
    return Response.json(body, status, headers=[("x-request-id", request_id)])


class SchemaError(ValueError):
    """The response_format schema breaks a strict-mode rule (the real API rejects it)."""


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()


def _tokens(chars: int) -> int:
    return max(1, math.ceil(chars / 3))


class _Context:
    """What the fake model "understood" from the prompt."""

    def __init__(self, user_text: str, seed: bytes) -> None:
        self.positive, self.negative = vocab.tone_counts(user_text)
        self.rng = random.Random(seed)
        diff = self.positive - self.negative
        self.direction: Direction = "up" if diff > 0 else "down" if diff < 0 else "flat"
        self.strength = abs(diff) / (self.positive + self.negative + 1)
        self.ids = self._ids(user_text)

    def _ids(self, text: str) -> list[int]:
        """Cited ids, those on lines agreeing with the direction first."""
        scored: list[tuple[int, int, int]] = []
        seen: set[int] = set()
        for order, line in enumerate(text.splitlines()):
            pos, neg = vocab.tone_counts(line)
            agreement = (pos - neg) * (1 if self.direction == "up" else -1 if self.direction == "down" else 0)
            for match in _ID_RE.finditer(line):
                value = int(match.group(1))
                if value not in seen:
                    seen.add(value)
                    scored.append((-agreement, order, value))
        return [value for _, _, value in sorted(scored)]

    def sentence(self) -> str:
        pos, neg = self.positive, self.negative
        if self.direction == "up":
            return f"긍정적 뉴스 {pos}건이 부정적 뉴스 {neg}건보다 많아 단기 상승 가능성이 높습니다."
        if self.direction == "down":
            return f"부정적 뉴스 {neg}건이 긍정적 뉴스 {pos}건보다 많아 단기 하락 가능성이 높습니다."
        return "긍정적 신호와 부정적 신호가 비슷해 뚜렷한 방향성이 보이지 않습니다."


def _pick_enum(values: list[Any], ctx: _Context) -> Any:
    """Tone-driven choice when the enum looks like a direction, else a stable pseudo-random one."""

    def find(words: tuple[str, ...]) -> Any:
        for value in values:
            if isinstance(value, str) and any(w in value.lower() for w in words):
                return value
        return None

    up, down = find(_UP), find(_DOWN)
    if up is not None and down is not None:
        choice = {"up": up, "down": down}.get(ctx.direction)
        if choice is None:
            choice = find(_FLAT)
        if choice is not None:
            return choice
    return values[ctx.rng.randrange(len(values))]


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    while isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
        ref = node.get("$ref") if isinstance(node, dict) else None
    return schema


def check_strict(schema: dict[str, Any], name: str) -> None:
    """The strict-mode rules the real API enforces at request time."""
    prefix = f"Invalid schema for response_format '{name}': "
    if schema.get("type") != "object" and "$ref" not in schema:
        got = schema.get("type")
        raise SchemaError(prefix + f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{got}\"'.")

    def walk(node: Any, context: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" or "properties" in node:
                where = f"In context={context!r}, "
                if node.get("additionalProperties") is not False:
                    raise SchemaError(
                        prefix + where + "'additionalProperties' is required to be supplied and to be false."
                    )
                properties = node.get("properties", {})
                required = node.get("required", [])
                missing = [key for key in properties if key not in required]
                if missing:
                    raise SchemaError(
                        prefix
                        + where
                        + "'required' is required to be supplied and to be an array including every key in "
                        + f"properties. Missing '{missing[0]}'."
                    )
            for key, value in node.items():
                walk(value, (*context, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*context, str(i)))

    walk(schema, ())


def generate(schema: dict[str, Any], ctx: _Context, root: dict[str, Any], name: str = "", depth: int = 0) -> Any:
    """A value conforming to ``schema``; property names give StockInsight fields their meaning."""
    schema = _resolve(schema, root)
    lname = name.lower()
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return _pick_enum(list(schema["enum"]), ctx)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [_resolve(o, root) for o in schema[key]]
            concrete = [o for o in options if o.get("type") != "null"] or options
            return generate(concrete[0], ctx, root, name, depth)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        if depth > 8:
            return {}
        props: dict[str, Any] = schema.get("properties", {})
        return {key: generate(sub, ctx, root, key, depth + 1) for key, sub in props.items()}
    if kind == "array":
        items = _resolve(schema.get("items", {"type": "string"}), root)
        low, high = int(schema.get("minItems", 1)), int(schema.get("maxItems", 3))
        if lname.endswith("_ids") and items.get("type") == "integer":
            return ctx.ids[: max(0, min(3, high))]
        count = min(high, max(low, 1 + ctx.rng.randrange(3)))
        return [generate(items, ctx, root, name.removesuffix("s"), depth + 1) for _ in range(count)]
    if kind == "number":
        return _number(schema, ctx, lname)
    if kind == "integer":
        low_i, high_i = int(schema.get("minimum", 0)), int(schema.get("maximum", 100))
        return ctx.rng.randint(low_i, max(low_i, high_i))
    if kind == "boolean":
        return ctx.rng.random() < 0.5
    if kind == "null":
        return None
    return _string(schema, ctx, lname)


def _number(schema: dict[str, Any], ctx: _Context, name: str) -> float:
    if "prob" in name or "confidence" in name:
        value = 0.5 + min(0.4, 0.3 * ctx.strength + 0.1 * ctx.rng.random())
        return round(min(0.9, max(0.5, value)), 3)
    if "return" in name:
        magnitude = min(0.03, 0.003 + 0.02 * ctx.strength + 0.005 * ctx.rng.random())
        sign = {"up": 1.0, "down": -1.0, "flat": 0.0}[ctx.direction]
        value = sign * magnitude if sign else (ctx.rng.random() - 0.5) * 0.004
        return round(value, 4)
    low = float(schema.get("minimum", schema.get("exclusiveMinimum", 0.0)))
    high = float(schema.get("maximum", schema.get("exclusiveMaximum", max(low + 1.0, 1.0))))
    return round(low + (high - low) * ctx.rng.random(), 4)


def _string(schema: dict[str, Any], ctx: _Context, name: str) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2024-01-05T09:00:00+09:00"
    if fmt == "date":
        return "2024-01-05"
    explains = ("reason", "summary", "rationale", "explanation", "analysis")
    text = ctx.sentence() if any(k in name for k in explains) else "뉴스 흐름을 종합한 판단입니다."
    limit = schema.get("maxLength")
    return text[: int(limit)] if isinstance(limit, int) else text


class OpenAiApi:
    def __init__(self, clock: SandboxClock, api_key: str) -> None:
        self.clock = clock
        self.api_key = api_key

    def handle(self, req: Request) -> Response | None:
        if req.path not in (CHAT_PATH, EMBEDDINGS_PATH, MODELS_PATH):
            if req.path.startswith("/v1/") and not req.path.startswith("/v1/search/"):
                return _error(404, f"Invalid URL ({req.method} {req.path})")
            return None
        denied = self._authenticate(req)
        if denied is not None:
            return denied
        if req.path == MODELS_PATH:
            models = [*_MODEL_SNAPSHOTS, *_EMBEDDING_DIMS]
            return Response.json(
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "system"} for m in models
                    ],
                }
            )
        if req.method != "POST":
            return _error(405, f"Method not allowed ({req.method} {req.path})")
        try:
            body = req.json()
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request. (HINT: This likely means you "
                          "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what "
                          "was sent was not valid JSON.)")  # fmt: skip
        if req.path == CHAT_PATH:
            return self._chat(body, malformed=req.fault_body == MALFORMED)
        return self._embeddings(body)

    def _authenticate(self, req: Request) -> Response | None:
        auth = req.header("authorization") or ""
        scheme, _, key = auth.partition(" ")
        if not auth:
            return _error(401, "You didn't provide an API key. You need to provide your API key in an Authorization "
                          "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field "
                          "(with blank username) if you're accessing the API from your browser and are prompted for a "
                          "username and password. You can obtain an API key from "
                          "https://platform.openai.com/account/api-keys.")  # fmt: skip
        if scheme.lower() != "bearer" or key.strip() != self.api_key:
            shown = key.strip()
            masked = f"{shown[:3]}{'*' * max(0, len(shown) - 7)}{shown[-4:]}" if len(shown) > 7 else shown
            return _error(401, f"Incorrect API key provided: {masked}. You can find your API key at "
                          "https://platform.openai.com/account/api-keys.", code="invalid_api_key")  # fmt: skip
        return None

    def _headers(self, request_id: str, tokens: int) -> list[tuple[str, str]]:
        return [
            ("x-request-id", request_id),
            ("openai-processing-ms", "42"),
            ("openai-version", "2020-10-01"),
            ("x-ratelimit-limit-requests", "10000"),
            ("x-ratelimit-remaining-requests", "9999"),
            ("x-ratelimit-limit-tokens", "30000000"),
            ("x-ratelimit-remaining-tokens", str(30_000_000 - tokens)),
            ("x-ratelimit-reset-requests", "6ms"),
            ("x-ratelimit-reset-tokens", "0s"),
        ]

    # ---- chat ------------------------------------------------------------------------------
    def _chat(self, body: dict[str, Any], *, malformed: bool) -> Response:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _error(400, "you must provide a model parameter")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "Missing required parameter: 'messages'.", param="messages",
                          code="missing_required_parameter")  # fmt: skip
        if body.get("stream"):
            return _error(400, "The StockInsight sandbox does not stream; call without stream=true.", param="stream")
        texts: list[str] = []
        user_texts: list[str] = []
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, list):  # content parts
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            text = content if isinstance(content, str) else ""
            texts.append(text)
            if isinstance(message, dict) and message.get("role") == "user":
                user_texts.append(text)
        canonical = json.dumps(body, sort_keys=True, ensure_ascii=False)
        seed = _digest("chat", canonical)
        ctx = _Context("\n".join(user_texts), seed)

        response_format = body.get("response_format") or {}
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind == "json_schema":
            spec = response_format.get("json_schema") or {}
            name = spec.get("name")
            schema = spec.get("schema")
            if not isinstance(name, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name):
                return _error(400, "Invalid 'response_format.json_schema.name': string does not match pattern. "
                              "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                              param="response_format.json_schema.name", code="invalid_value")  # fmt: skip
            if not isinstance(schema, dict):
                return _error(400, "Missing required parameter: 'response_format.json_schema.schema'.",
                              param="response_format.json_schema.schema")  # fmt: skip
            if spec.get("strict"):
                try:
                    check_strict(schema, name)
                except SchemaError as exc:
                    return _error(400, str(exc), param="response_format")
            content = json.dumps(generate(schema, ctx, schema), ensure_ascii=False)
        elif kind == "json_object":
            content = json.dumps({"direction": ctx.direction, "summary": ctx.sentence()}, ensure_ascii=False)
        else:
            content = ctx.sentence()

        if malformed:  # the model wandered off the format: a cut-off JSON document
            content = content[: max(1, len(content) // 2)]
        finish_reason = "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and limit > 0 and _tokens(len(content)) > limit:
            content = content[: limit * 3]
            finish_reason = "length"
        prompt_tokens = _tokens(sum(len(t) for t in texts)) + 3 * len(messages)
        completion_tokens = _tokens(len(content))
        request_id = f"req_{seed.hex()[:32]}"
        snapshot = _MODEL_SNAPSHOTS.get(model, model)
        n = body.get("n")
        count = n if isinstance(n, int) and n > 0 else 1
        payload = {
            "id": f"chatcmpl-{base64.b32encode(seed[:15]).decode().rstrip('=')}",
            "object": "chat.completion",
            "created": int(self.clock.now().timestamp()),
            "model": snapshot,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
                for i in range(count)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens * count,
                "total_tokens": prompt_tokens + completion_tokens * count,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
            },
            "service_tier": "default",
            "system_fingerprint": f"fp_{seed.hex()[:10]}",
        }  # fmt: skip
        return Response.json(payload, headers=self._headers(request_id, prompt_tokens + completion_tokens))

    # ---- embeddings -------------------------------------------------------------------------
    def _embeddings(self, body: dict[str, Any]) -> Response:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _error(400, "you must provide a model parameter")
        raw = body.get("input")
        invalid = _error(400, "'$.input' is invalid. Please check the API reference: "
                         "https://platform.openai.com/docs/api-reference.")  # fmt: skip
        inputs: list[str]
        if isinstance(raw, str):
            inputs = [raw]
        elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
            inputs = [" ".join(map(str, raw))]  # one tokenised input
        elif isinstance(raw, list) and raw:
            inputs = [x if isinstance(x, str) else " ".join(map(str, x)) if isinstance(x, list) else "" for x in raw]
        else:
            return invalid
        if len(inputs) > 2048 or any(not text for text in inputs):
            return invalid
        native = _EMBEDDING_DIMS.get(model, 1536)
        dims = body.get("dimensions")
        if dims is not None:
            if not model.startswith("text-embedding-3"):
                return _error(400, "This model does not support specifying dimensions.", param="dimensions")
            if not isinstance(dims, int) or not 1 <= dims <= native:
                return _error(400, f"Invalid value for 'dimensions' = {dims}. Must be between 1 and {native}.",
                              param="dimensions")  # fmt: skip
        size = dims or native
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            return _error(400, f"Invalid value for 'encoding_format': {encoding!r}.", param="encoding_format")
        data = []
        for i, text in enumerate(inputs):
            vector = embed(text, size, model)
            value: Any = (
                base64.b64encode(struct.pack(f"<{size}f", *vector)).decode() if encoding == "base64" else vector
            )
            data.append({"object": "embedding", "index": i, "embedding": value})
        tokens = sum(_tokens(len(t)) for t in inputs)
        request_id = f"req_{_digest('emb', json.dumps(body, sort_keys=True)).hex()[:32]}"
        payload = {"object": "list", "data": data, "model": model,
                   "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}  # fmt: skip
        return Response.json(payload, headers=self._headers(request_id, tokens))


def embed(text: str, size: int, model: str = "text-embedding-3-small") -> list[float]:
    """A unit vector: 30 % text-specific direction, 70 % hashed word and syllable-pair features."""
    dense = array("b", hashlib.shake_256(_digest("embed", model, text)).digest(size))
    weight = 0.3 / (math.sqrt(sum(map(operator.mul, dense, dense))) or 1.0)
    vector = [weight * x for x in dense]
    sparse: dict[int, float] = {}
    for word in _WORD_RE.findall(text.lower()):
        for feature in (word, *(word[i : i + 2] for i in range(len(word) - 1))):
            h = hashlib.blake2b(feature.encode(), digest_size=16).digest()
            for j in range(0, 16, 4):
                index = int.from_bytes(h[j : j + 3], "big") % size
                sparse[index] = sparse.get(index, 0.0) + (1.0 if h[j + 3] & 1 else -1.0)
    sparse_norm = math.sqrt(sum(v * v for v in sparse.values()))
    if sparse_norm:
        for index, value in sparse.items():
            vector[index] += 0.7 * value / sparse_norm
    total = math.sqrt(sum(map(operator.mul, vector, vector))) or 1.0
    return [x / total for x in vector]
