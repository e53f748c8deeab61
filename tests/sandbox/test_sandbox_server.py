"""The server itself: fault injection, the HTTP control surface, determinism, concurrency, CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from sandbox.server import SandboxServer
from sandbox.trading_calendar import KST

NEWS = "/v1/search/news.json"
NAVER = {"X-Naver-Client-Id": "sandbox-naver-id", "X-Naver-Client-Secret": "sandbox-naver-secret"}
CHAT = "/v1/chat/completions"
REPO = Path(__file__).resolve().parents[2]


def test_fault_with_status_body_and_headers(srv: SandboxServer, client: httpx.Client) -> None:
    srv.inject_fault("/v1/search/", status=500, body={"errorMessage": "System error", "errorCode": "SE99"},
                     headers={"Retry-After": "1"}, times=2)  # fmt: skip
    for _ in range(2):
        failed = client.get(NEWS, params={"query": "삼성전자"}, headers=NAVER)
        assert failed.status_code == 500 and failed.json()["errorCode"] == "SE99"
        assert failed.headers["retry-after"] == "1"
    assert client.get(NEWS, params={"query": "삼성전자"}, headers=NAVER).status_code == 200
    assert srv.requests == [("GET", NEWS)] * 3


def test_fault_text_body_delay_and_clear(srv: SandboxServer, client: httpx.Client) -> None:
    srv.inject_fault("/comm/", status=503, body="<html>점검 중</html>")
    answer = client.post("/comm/bldAttendant/getJsonData.cmd", data={"bld": "x"})
    assert answer.status_code == 503 and "점검" in answer.text
    srv.inject_fault("/v1/search/", delay=0.3)
    started = time.perf_counter()
    assert client.get(NEWS, params={"query": "삼성전자"}, headers=NAVER).status_code == 200
    assert time.perf_counter() - started >= 0.3
    srv.inject_fault("/v1/search/", status=500, times=5)
    srv.clear_faults()
    assert client.get(NEWS, params={"query": "삼성전자"}, headers=NAVER).status_code == 200


def test_malformed_fault_outside_chat_cuts_the_body(srv: SandboxServer, client: httpx.Client) -> None:
    srv.inject_fault("/v1/search/", body="malformed")
    answer = client.get(NEWS, params={"query": "삼성전자"}, headers=NAVER)
    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()


def test_reset_forgets_state(srv: SandboxServer, client: httpx.Client) -> None:
    client.post("/bot123456:sandbox-token/sendMessage", json={"chat_id": 1, "text": "hi"})
    srv.inject_fault("/bot", status=500)
    assert srv.telegram_messages and srv.requests
    srv.reset()
    assert srv.telegram_messages == [] and srv.requests == []
    assert client.post("/bot123456:sandbox-token/sendMessage", json={"chat_id": 1, "text": "hi"}).status_code == 200


def test_http_control_surface(srv: SandboxServer, client: httpx.Client) -> None:
    assert client.post("/_sandbox/clock", json={"now": "2024-01-04T12:00:00+09:00"}).json()["ok"]
    assert srv.clock.now() == datetime(2024, 1, 4, 12, 0, tzinfo=KST)
    assert client.get("/_sandbox/clock").json()["now"] == "2024-01-04T12:00:00+09:00"
    assert client.post("/_sandbox/clock", json={"now": "2024-01-04T12:00:00"}).status_code == 400  # naive
    fault = {
        "path_prefix": "/bot",
        "status": 502,
        "body": {"ok": False, "error_code": 502, "description": "Bad Gateway"},
    }
    assert client.post("/_sandbox/faults", json=fault).json()["ok"]
    assert client.post("/bot123456:sandbox-token/sendMessage", json={"chat_id": 1, "text": "a"}).status_code == 502
    client.post("/bot123456:sandbox-token/sendMessage", json={"chat_id": 1, "text": "b"})
    messages = client.get("/_sandbox/telegram/messages").json()["messages"]
    assert [m["text"] for m in messages] == ["b"]
    assert client.get("/_sandbox/requests").json()["requests"][-1] == ["POST", "/bot123456:sandbox-token/sendMessage"]
    assert client.post("/_sandbox/reset").json()["ok"]
    assert client.get("/_sandbox/telegram/messages").json()["messages"] == []
    assert srv.requests == []  # control calls are not logged as upstream traffic
    assert client.get("/_sandbox/health").json()["stocks"] == 40


def _fetch_all(server: SandboxServer, open_client: Callable[..., httpx.Client]) -> list[bytes]:
    """Bytes of a representative answer from every upstream."""
    bearer = {"Authorization": "Bearer sk-sandbox"}
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "급등"}]}
    embedding = {"model": "text-embedding-3-small", "input": ["급등"], "encoding_format": "base64"}
    out = []
    with open_client(server.base_url) as client:
        client.post("/contents/MDC/COMS/client/MDCCOMS001D1.cmd", data={"mbrId": "demo", "pw": "demo-pw"})
        for day in ("20240105", "20250602", "20221014"):
            form = {"bld": "dbms/MDC/STAT/standard/MDCSTAT01501", "mktId": "ALL", "trdDd": day}
            out.append(client.post("/comm/bldAttendant/getJsonData.cmd", data=form).content)
        key = {"AUTH_KEY": "sandbox-krx-key"}
        out.append(client.get("/svc/apis/sto/ksq_bydd_trd", params={"basDd": "20250602"}, headers=key).content)
        out.append(client.get(NEWS, params={"query": "카카오", "display": 50, "sort": "date"}, headers=NAVER).content)
        out.append(client.post(CHAT, headers=bearer, json=chat).content)
        out.append(client.post("/v1/embeddings", headers=bearer, json=embedding).content)
    return out


def test_same_seed_same_bytes(open_client: Callable[..., httpx.Client]) -> None:
    now = datetime(2025, 6, 2, 17, 0, tzinfo=KST)
    with SandboxServer(seed=7, now=now) as a, SandboxServer(seed=7, now=now) as b, SandboxServer(seed=8, now=now) as c:
        first, second, third = (_fetch_all(s, open_client) for s in (a, b, c))
    assert first == second
    assert first[0] == third[0]  # 2024-01-05 is real data
    assert first[1] != third[1] and first[4] != third[4]  # generated prices and news differ by seed


def test_concurrent_clients(srv: SandboxServer, open_client: Callable[..., httpx.Client]) -> None:
    codes = ["005930", "000660", "035420", "035720", "247540"]
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    with open_client(srv.base_url, limits=limits) as client:  # one client: its pool is thread-safe

        def work(i: int) -> int:
            bearer = {"Authorization": "Bearer sk-sandbox"}
            embedding = {"model": "text-embedding-3-small", "input": f"t{i}"}
            statuses = [
                client.get(NEWS, params={"query": codes[i % 5], "display": 20}, headers=NAVER).status_code,
                client.post("/bot123456:sandbox-token/sendMessage", json={"chat_id": i, "text": f"m{i}"}).status_code,
                client.post("/v1/embeddings", headers=bearer, json=embedding).status_code,
            ]
            return sum(s == 200 for s in statuses)

        with ThreadPoolExecutor(max_workers=32) as pool:
            assert sum(pool.map(work, range(64))) == 64 * 3
    assert sorted(m["chat_id"] for m in srv.telegram_messages) == list(range(64))
    assert len(srv.requests) == 64 * 3


def test_cli_runs_in_the_foreground() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--print-env", "--now", "2024-01-05T16:00:00+09:00"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        env_line = process.stdout.readline().strip()
        assert env_line == f"KRX_DATA_URL={base_url}"
        health = httpx.get(f"{base_url}/_sandbox/health").json()
        assert health["now"] == "2024-01-05T16:00:00+09:00"
    finally:
        process.terminate()
        process.wait(timeout=5)
