"""Telegram sendMessage: recording, entity parsing, errors, blocked chats, flood control."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import httpx
import pytest
import telegram
from telegram.constants import ParseMode

from sandbox.server import SandboxServer
from sandbox.wire import Request

SEND = "/bot123456:sandbox-token/sendMessage"


def send(client: httpx.Client, **fields: object) -> httpx.Response:
    return client.post(SEND, json={"chat_id": 1001, **fields})


def test_send_message_is_recorded(srv: SandboxServer, client: httpx.Client) -> None:
    response = send(client, text="<b>005930</b> 삼성전자 +2.1% &amp; 상승", parse_mode="HTML",
                    link_preview_options={"is_disabled": True})  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    result = body["result"]
    assert result["message_id"] == 1 and result["chat"] == {"id": 1001, "first_name": "Sandbox", "type": "private"}
    assert result["text"] == "005930 삼성전자 +2.1% & 상승" and result["date"] == 1704438000
    assert send(client, text="again").json()["result"]["message_id"] == 2
    messages = srv.telegram_messages
    assert [m["text"] for m in messages] == ["<b>005930</b> 삼성전자 +2.1% &amp; 상승", "again"]
    assert messages[0]["parse_mode"] == "HTML" and messages[0]["link_preview_options"] == {"is_disabled": True}


def test_form_posts_are_decoded(srv: SandboxServer, client: httpx.Client) -> None:
    response = client.post(
        SEND, data={"chat_id": "-1001000000001", "text": "공지", "link_preview_options": '{"is_disabled": true}'}
    )
    assert response.json()["result"]["chat"]["type"] == "supergroup"
    [message] = srv.telegram_messages
    assert message["chat_id"] == -1001000000001 and message["link_preview_options"] == {"is_disabled": True}


def test_wrong_token_and_unknown_method(client: httpx.Client) -> None:
    wrong = client.post("/bot999:nope/sendMessage", json={"chat_id": 1, "text": "x"})
    assert wrong.status_code == 401
    assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert client.post("/bot123456:sandbox-token/sendTelepathy", json={}).status_code == 404


@pytest.mark.parametrize(
    ("fields", "description"),
    [
        ({"text": ""}, "Bad Request: message text is empty"),
        ({"text": "<b></b>", "parse_mode": "HTML"}, "Bad Request: message text is empty"),
        ({"text": "가" * 4097}, "Bad Request: message is too long"),
        ({"chat_id": None, "text": "x"}, "Bad Request: chat_id is empty"),
    ],
)
def test_bad_requests(client: httpx.Client, fields: dict[str, object], description: str) -> None:
    response = send(client, **fields)
    assert response.status_code == 400 and response.json()["description"] == description


def test_length_is_counted_after_entity_parsing(client: httpx.Client) -> None:
    text = "<b>" + "가" * 4000 + "</b>" + "&amp;" * 96
    assert send(client, text=text, parse_mode="HTML").status_code == 200
    assert send(client, text=text + "x", parse_mode="HTML").status_code == 400


@pytest.mark.parametrize(
    "text",
    ["<div>x</div>", "<b>open", "<b>x</i>", "a & b", "a < b", "x</b>", "&nbsp;"],
)
def test_html_that_telegram_cannot_parse(client: httpx.Client, text: str) -> None:
    response = send(client, text=text, parse_mode="HTML")
    assert response.status_code == 400
    assert response.json()["description"].startswith("Bad Request: can't parse entities: ")


def test_markdown_v2(client: httpx.Client) -> None:
    assert (
        send(client, text="*삼성전자* \\+2\\.1%", parse_mode="MarkdownV2").json()["result"]["text"] == "삼성전자 +2.1%"
    )
    for text in ("+2.1%", "*unclosed", "[link](http://x"):
        response = send(client, text=text, parse_mode="MarkdownV2")
        assert response.status_code == 400 and "can't parse entities" in response.json()["description"]


def test_blocked_chat(srv: SandboxServer, client: httpx.Client) -> None:
    response = send(client, chat_id=999, text="hi")
    assert response.status_code == 403
    assert response.json() == {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    assert srv.telegram_messages == []


@pytest.fixture
def flood() -> Iterator[SandboxServer]:
    with SandboxServer(telegram_flood_control=True) as server:
        yield server


def test_flood_control(flood: SandboxServer, open_client: Callable[..., httpx.Client]) -> None:
    json_header = {"content-type": "application/json"}

    def direct(chat_id: int) -> int:  # in-process: bursts stay far inside the refill time
        body = json.dumps({"chat_id": chat_id, "text": "b"}).encode()
        return flood.handle(Request("POST", SEND, {}, json_header, body)).status

    assert [direct(1001) for _ in range(3)] == [200, 200, 200]  # a burst of three per chat
    with open_client(flood.base_url) as client:
        limited = send(client, text="fourth")
        assert limited.status_code == 429
        retry_after = limited.json()["parameters"]["retry_after"]
        assert retry_after >= 1
        assert limited.json()["description"] == f"Too Many Requests: retry after {retry_after}"
        assert send(client, chat_id=2002, text="another chat").status_code == 200
    bulk = [direct(3000 + i) for i in range(40)]  # 30 a second overall
    assert 429 in bulk
    assert len(flood.telegram_messages) < 44


def test_python_telegram_bot_against_the_sandbox(srv: SandboxServer) -> None:
    async def run() -> telegram.Message:
        bot = telegram.Bot("123456:sandbox-token", base_url=f"{srv.base_url}/bot")
        async with bot:
            return await bot.send_message(chat_id=1001, text="<b>신호</b> 상승", parse_mode=ParseMode.HTML)

    message = asyncio.run(run())
    assert message.text == "신호 상승" and message.chat.id == 1001
    assert srv.telegram_messages[-1]["text"] == "<b>신호</b> 상승"

    async def blocked() -> None:
        async with telegram.Bot("123456:sandbox-token", base_url=f"{srv.base_url}/bot") as bot:
            await bot.send_message(chat_id=999, text="x")

    with pytest.raises(telegram.error.Forbidden):
        asyncio.run(blocked())
