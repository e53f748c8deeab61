"""OpenAI: schema-conforming structured outputs, embeddings, errors — through the real SDK too."""

from __future__ import annotations

import json
import math
from typing import Any, Literal

import httpx
import openai
import pytest
from pydantic import BaseModel

from sandbox.server import SandboxServer

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
BEARER = {"Authorization": "Bearer sk-sandbox"}

PREDICTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "direction": {"type": "string", "enum": ["up", "down", "flat"]},
        "probability": {"type": "number"},
        "expected_return": {"type": "number"},
        "evidence_news_ids": {"type": "array", "items": {"type": "integer"}},
        "rationale": {"type": "string"},
        "risk": {"type": ["string", "null"]},
    },
    "required": ["direction", "probability", "expected_return", "evidence_news_ids", "rationale", "risk"],
    "additionalProperties": False,
}
BULLISH = """삼성전자 뉴스:
[id=11] 삼성전자, 실적 호조에 주가 급등
[id=12] 외국인 순매수 몰린 삼성전자, 강세 마감
[id=13] 삼성전자, 정기 주주총회 개최
[id=14] 삼성전자 목표가 상향…"하반기 실적 개선 본격화"
[id=15] 삼성전자 52주 신고가 경신"""
BEARISH = """[id=21] SK하이닉스, 실적 부진 우려에 급락
[id=22] SK하이닉스 목표가 하향…"업황 악화 지속"
[id=23] 외국인 매도세에 SK하이닉스 약세"""


def chat_body(user: str, schema: dict[str, Any] = PREDICTION_SCHEMA, **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "다음 거래일 주가 방향을 상승/하락/보합 중 하나로 예측하라."},
            {"role": "user", "content": user},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "prediction", "strict": True, "schema": schema},
        },
        **extra,
    }


def test_structured_prediction_follows_the_news(client: httpx.Client) -> None:
    response = client.post(CHAT, json=chat_body(BULLISH), headers=BEARER)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o-mini-2024-07-18"
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] and usage["prompt_tokens"] > 50
    up = json.loads(choice["message"]["content"])
    assert set(up) == set(PREDICTION_SCHEMA["properties"])
    assert up["direction"] == "up"
    assert 0.5 <= up["probability"] <= 0.9 and 0 < up["expected_return"] <= 0.03
    assert 1 <= len(up["evidence_news_ids"]) <= 3 and set(up["evidence_news_ids"]) <= {11, 12, 14, 15}
    assert isinstance(up["rationale"], str) and up["rationale"] and isinstance(up["risk"], str)

    down = json.loads(
        client.post(CHAT, json=chat_body(BEARISH), headers=BEARER).json()["choices"][0]["message"]["content"]
    )
    assert down["direction"] == "down" and -0.03 <= down["expected_return"] < 0
    assert set(down["evidence_news_ids"]) <= {21, 22, 23}
    flat = json.loads(
        client.post(CHAT, json=chat_body("[id=1] 주주총회 개최"), headers=BEARER).json()["choices"][0]["message"][
            "content"
        ]
    )
    assert flat["direction"] == "flat"


def test_answers_are_deterministic(client: httpx.Client) -> None:
    first = client.post(CHAT, json=chat_body(BULLISH), headers=BEARER)
    second = client.post(CHAT, json=chat_body(BULLISH), headers=BEARER)
    assert first.content == second.content
    other = client.post(CHAT, json=chat_body(BULLISH + "\n"), headers=BEARER)
    assert other.json()["id"] != first.json()["id"]


def test_sdk_parse_with_a_pydantic_model(srv: SandboxServer) -> None:
    class Evidence(BaseModel):
        news_id: int
        summary: str

    class Prediction(BaseModel):
        direction: Literal["상승", "하락", "보합"]
        probability: float
        evidence: list[Evidence]
        note: str | None

    sdk = openai.OpenAI(base_url=f"{srv.base_url}/v1", api_key="sk-sandbox", max_retries=0)
    completion = sdk.chat.completions.parse(
        model="gpt-4o", messages=[{"role": "user", "content": BULLISH}], response_format=Prediction
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Prediction)
    assert parsed.direction == "상승" and 0.5 <= parsed.probability <= 0.9 and parsed.evidence
    assert completion.usage is not None and completion.usage.prompt_tokens > 0


def test_sdk_embeddings(srv: SandboxServer) -> None:
    sdk = openai.OpenAI(base_url=f"{srv.base_url}/v1", api_key="sk-sandbox", max_retries=0)
    texts = ["삼성전자 실적 호조에 주가 급등", "삼성전자 실적 호조 기대감", "오늘 서울 날씨는 맑음"]
    result = sdk.embeddings.create(model="text-embedding-3-small", input=texts)  # base64 on the wire
    vectors = [item.embedding for item in sorted(result.data, key=lambda d: d.index)]
    assert [len(v) for v in vectors] == [1536] * 3
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5 for v in vectors)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2
    short = sdk.embeddings.create(model="text-embedding-3-small", input="삼성전자", dimensions=256)
    assert len(short.data[0].embedding) == 256
    again = sdk.embeddings.create(model="text-embedding-3-small", input=texts)
    assert [d.embedding for d in again.data] == [d.embedding for d in result.data]
    assert result.usage.prompt_tokens > 0


def test_embedding_errors(client: httpx.Client) -> None:
    empty = client.post(EMBEDDINGS, json={"model": "text-embedding-3-small", "input": ""}, headers=BEARER)
    assert empty.status_code == 400 and empty.json()["error"]["type"] == "invalid_request_error"
    in_list = client.post(EMBEDDINGS, json={"model": "text-embedding-3-small", "input": ["a", ""]}, headers=BEARER)
    assert in_list.status_code == 400
    dims = client.post(
        EMBEDDINGS, json={"model": "text-embedding-ada-002", "input": "a", "dimensions": 8}, headers=BEARER
    )
    assert dims.status_code == 400
    floats = client.post(EMBEDDINGS, json={"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 4,
                                           "encoding_format": "float"}, headers=BEARER).json()  # fmt: skip
    assert [d["index"] for d in floats["data"]] == [0, 1] and len(floats["data"][1]["embedding"]) == 4


def test_authentication(client: httpx.Client) -> None:
    wrong = client.post(CHAT, json=chat_body("x"), headers={"Authorization": "Bearer sk-wrong-key-123"})
    assert wrong.status_code == 401
    error = wrong.json()["error"]
    assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
    assert "sk-wrong-key-123" not in error["message"]
    assert client.post(EMBEDDINGS, json={"model": "text-embedding-3-small", "input": "a"}).status_code == 401


def test_strict_schema_rules_are_enforced(client: httpx.Client) -> None:
    loose = {**PREDICTION_SCHEMA, "additionalProperties": True}
    assert client.post(CHAT, json=chat_body("x", loose), headers=BEARER).status_code == 400
    partial = {**PREDICTION_SCHEMA, "required": ["direction"]}
    response = client.post(CHAT, json=chat_body("x", partial), headers=BEARER)
    assert response.status_code == 400 and "required" in response.json()["error"]["message"]


def test_malformed_fault_and_length_cutoff(srv: SandboxServer, client: httpx.Client) -> None:
    srv.inject_fault(CHAT, body="malformed")
    broken = client.post(CHAT, json=chat_body(BULLISH), headers=BEARER)
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.json()["choices"][0]["message"]["content"])
    healthy = client.post(CHAT, json=chat_body(BULLISH), headers=BEARER).json()
    json.loads(healthy["choices"][0]["message"]["content"])
    cut = client.post(CHAT, json=chat_body(BULLISH, max_tokens=5), headers=BEARER).json()["choices"][0]
    assert cut["finish_reason"] == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut["message"]["content"])


def test_plain_chat_and_json_object(client: httpx.Client) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": BEARISH}]}
    text = client.post(CHAT, json=body, headers=BEARER).json()["choices"][0]["message"]["content"]
    assert "하락" in text
    as_object = client.post(CHAT, json={**body, "response_format": {"type": "json_object"}}, headers=BEARER).json()
    assert json.loads(as_object["choices"][0]["message"]["content"])["direction"] == "down"
    assert client.post(CHAT, json={"model": "gpt-4o"}, headers=BEARER).status_code == 400
