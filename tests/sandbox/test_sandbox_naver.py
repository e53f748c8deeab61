"""Naver news search: shape, highlighting, clock, cross-stock articles, errors and quota."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest

from sandbox import vocabulary
from sandbox.server import SandboxServer
from sandbox.trading_calendar import KST

NEWS = "/v1/search/news.json"
AUTH = {"X-Naver-Client-Id": "sandbox-naver-id", "X-Naver-Client-Secret": "sandbox-naver-secret"}


def search(client: httpx.Client, query: str, **params: str | int) -> httpx.Response:
    return client.get(NEWS, params={"query": query, **params}, headers=AUTH)


def plain(text: str) -> str:
    return html.unescape(re.sub(r"</?b>", "", text))


def test_news_shape_and_highlighting(client: httpx.Client) -> None:
    response = search(client, "삼성전자", display=30, sort="date")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"lastBuildDate", "total", "start", "display", "items"}
    assert body["lastBuildDate"] == "Fri, 05 Jan 2024 16:00:00 +0900"
    assert body["start"] == 1 and body["display"] == 30 and body["total"] > 1000
    items = body["items"]
    stamps = [parsedate_to_datetime(item["pubDate"]) for item in items]
    assert stamps == sorted(stamps, reverse=True)
    assert all(item["pubDate"].endswith("+0900") for item in items)
    assert all("<b>삼성전자</b>" in item["title"] + item["description"] for item in items)
    everything = " ".join(item["title"] + item["description"] for item in items)
    assert "&quot;" in everything and '"' not in everything
    assert all(item["originallink"].startswith("https://") for item in items)
    assert any(item["link"].startswith("https://n.news.naver.com/") for item in items)
    hours = {parsedate_to_datetime(item["pubDate"]).hour for item in items}
    assert any(h < 9 for h in hours) and any(9 <= h < 15 for h in hours)  # pre-open and intraday news


def test_the_clock_hides_future_news(srv: SandboxServer, client: httpx.Client) -> None:
    srv.set_clock(datetime(2024, 1, 4, 12, 0, tzinfo=KST))
    noon = search(client, "SK하이닉스", display=100, sort="date").json()["items"]
    assert noon and all(parsedate_to_datetime(i["pubDate"]) <= datetime(2024, 1, 4, 12, 0, tzinfo=KST) for i in noon)
    srv.set_clock(datetime(2024, 1, 5, 16, 0, tzinfo=KST))
    later = search(client, "SK하이닉스", display=100, sort="date").json()["items"]
    assert len({i["originallink"] for i in later} - {i["originallink"] for i in noon}) > 0
    older = [
        i["originallink"]
        for i in later
        if parsedate_to_datetime(i["pubDate"]) <= datetime(2024, 1, 4, 12, 0, tzinfo=KST)
    ]
    assert older and older == [i["originallink"] for i in noon][: len(older)]  # the past does not change


def test_an_article_naming_two_stocks_is_found_by_both(srv: SandboxServer, client: httpx.Client) -> None:
    items = search(client, "삼성전자", display=100, sort="date").json()["items"]
    shared = [i for i in items if "삼성전자" not in i["title"] and "<b>삼성전자</b>" in i["description"]]
    assert len(shared) >= 3, "about one article in five also names a second stock"
    for article in shared[:3]:
        other = max((s.name for s in srv.universe.stocks if s.name in plain(article["title"])), key=len)
        found = search(client, other, display=100, sort="date").json()["items"]
        assert article["originallink"] in {i["originallink"] for i in found}


def test_relevance_sort_and_paging(client: httpx.Client) -> None:
    by_date = search(client, "NAVER", display=20, sort="date").json()["items"]
    by_sim = search(client, "NAVER", display=20, sort="sim").json()["items"]
    assert {i["originallink"] for i in by_date} == {i["originallink"] for i in by_sim}
    page_two = search(client, "NAVER", display=10, start=11, sort="date").json()["items"]
    assert [i["originallink"] for i in page_two] == [i["originallink"] for i in by_date[10:]]
    deep = search(client, "NAVER", display=100, start=1000, sort="date").json()
    assert deep["start"] == 1000 and deep["display"] == len(deep["items"]) == 100
    assert search(client, "없는종목이름", display=10).json()["items"] == []


def test_news_tone_follows_the_days_move(srv: SandboxServer) -> None:
    newsroom, market = srv.newsroom, srv.market
    up = down = 0.0
    counts = [0, 0]
    for day in market.calendar.between(date(2023, 1, 2), date(2023, 6, 30)):
        for code in ("005930", "000660", "035720"):
            bar = market.bar(code, day)
            assert bar is not None
            for article in newsroom.articles(code, day):
                pos, neg = vocabulary.tone_counts(article.title + article.description)
                score = (pos > neg) - (neg > pos)
                if bar.day_return > 0.01:
                    up += score
                    counts[0] += 1
                elif bar.day_return < -0.01:
                    down += score
                    counts[1] += 1
    assert up / counts[0] > 0.3 and down / counts[1] < -0.3


def test_templates_carry_their_tone() -> None:
    for tone, expected in (("positive", 1), ("negative", -1), ("neutral", 0)):
        for template in vocabulary.TITLES[tone] + vocabulary.DESCRIPTIONS[tone]:
            pos, neg = vocabulary.tone_counts(template.format(name="종목", name2="다른", code="000000", md="1월 2일"))
            assert (pos > neg) - (neg > pos) == expected, template


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"query": ""}, "SE01"),
        ({"display": "10"}, "SE01"),
        ({"query": "삼성전자", "display": "0"}, "SE02"),
        ({"query": "삼성전자", "display": "101"}, "SE02"),
        ({"query": "삼성전자", "start": "1001"}, "SE03"),
        ({"query": "삼성전자", "sort": "newest"}, "SE04"),
    ],
)
def test_validation_errors(client: httpx.Client, params: dict[str, str], code: str) -> None:
    response = client.get(NEWS, params=params, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["errorCode"] == code and response.json()["errorMessage"]


def test_authentication_errors(client: httpx.Client) -> None:
    for headers in ({}, {**AUTH, "X-Naver-Client-Secret": "wrong"}, {**AUTH, "X-Naver-Client-Id": "wrong"}):
        response = client.get(NEWS, params={"query": "삼성전자"}, headers=headers)
        assert response.status_code == 401 and response.json()["errorCode"] == "024"


@pytest.fixture
def tiny_quota() -> Iterator[SandboxServer]:
    with SandboxServer(naver_daily_quota=3, now=datetime(2024, 1, 5, 16, 0, tzinfo=KST)) as server:
        yield server


def test_daily_quota(tiny_quota: SandboxServer, open_client: Callable[..., httpx.Client]) -> None:
    with open_client(tiny_quota.base_url) as client:
        answers = [search(client, "삼성전자", display=1) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[-1].json()["errorCode"] == "010"
        tiny_quota.set_clock(datetime(2024, 1, 6, 0, 1, tzinfo=KST))  # midnight KST resets it
        assert search(client, "삼성전자", display=1).status_code == 200
        tiny_quota.set_clock(datetime(2024, 1, 5, 16, 0, tzinfo=KST))
        tiny_quota.reset()
        assert search(client, "삼성전자", display=1).status_code == 200
