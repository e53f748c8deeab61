"""Naver news parsing and error classification, on bodies in Naver's real shapes."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from shared.market_calendar import KST
from shared.sources.naver import (
    NaverConfigError,
    NaverError,
    NaverQuotaExceededError,
    NaverRequestError,
    clean_text,
    error_from_response,
    is_retryable,
    parse_news_page,
    parse_pub_date,
)


def _item(**overrides: str) -> dict[str, str]:
    item = {
        "title": "<b>삼성전자</b>, 4분기 영업익 2.8조&quot;…&quot;",
        "originallink": "https://www.example-press.co.kr/news/123",
        "link": "https://n.news.naver.com/mnews/article/001/0001234567?sid=101",
        "description": "<b>삼성전자</b>가 5일 잠정 실적을 발표했다 &amp; SK하이닉스도…",
        "pubDate": "Fri, 05 Jan 2024 16:05:00 +0900",
    }
    item.update(overrides)
    return item


def _page(*items: object) -> dict[str, object]:
    return {"lastBuildDate": "Fri, 05 Jan 2024 16:20:11 +0900", "total": 123456, "start": 1,
            "display": len(items), "items": list(items)}  # fmt: skip


def test_html_tags_and_entities_are_stripped() -> None:
    page = parse_news_page(_page(_item()))
    [record] = page.batch.records
    assert record.title == '삼성전자, 4분기 영업익 2.8조"…"'
    assert record.summary == "삼성전자가 5일 잠정 실적을 발표했다 & SK하이닉스도…"
    assert record.url == "https://www.example-press.co.kr/news/123"
    assert record.source == "example-press.co.kr"


def test_escaped_markup_survives_as_text() -> None:
    assert clean_text("&lt;b&gt;속보&lt;/b&gt; <b>LG</b>&#39;s") == "<b>속보</b> LG's"


def test_pub_date_is_an_aware_kst_timestamp() -> None:
    published = parse_pub_date("Fri, 05 Jan 2024 07:05:00 +0000")
    assert published == datetime(2024, 1, 5, 16, 5, tzinfo=KST)
    assert published.utcoffset() is not None and published.utcoffset().total_seconds() == 9 * 3600  # type: ignore[union-attr]


def test_link_is_the_fallback_when_originallink_is_empty() -> None:
    [record] = parse_news_page(_page(_item(originallink=""))).batch.records
    assert record.url.startswith("https://n.news.naver.com/")


def test_duplicate_urls_in_a_page_are_kept_once() -> None:
    page = parse_news_page(_page(_item(), _item(title="다른 제목"), _item(originallink="https://b.example/2")))
    assert [r.url for r in page.batch.records] == ["https://www.example-press.co.kr/news/123", "https://b.example/2"]
    assert page.item_count == 3


def test_bad_items_are_rejected_and_the_rest_kept() -> None:
    page = parse_news_page(
        _page(
            _item(pubDate="yesterday", originallink="https://a.example/1"),
            _item(title="<b></b>", originallink="https://a.example/2"),
            _item(originallink="", link="javascript:alert(1)"),
            "not an object",
            _item(),
        )
    )
    assert len(page.batch.records) == 1
    assert len(page.batch.rejected) == 4
    assert page.batch.rejected[0].raw["pubDate"] == "yesterday"


def test_empty_result_page() -> None:
    page = parse_news_page({"total": 0, "start": 1, "display": 0, "items": []})
    assert page.item_count == 0 and not page.batch.records


def _error(status: int, code: str, message: str = "x") -> httpx.Response:
    return httpx.Response(status, json={"errorMessage": message, "errorCode": code})


def test_error_codes_choose_the_exception() -> None:
    assert isinstance(error_from_response(_error(429, "010", "Query limit exceeded")), NaverQuotaExceededError)
    assert isinstance(error_from_response(_error(401, "024", "Not Exist Client ID")), NaverConfigError)
    assert isinstance(error_from_response(httpx.Response(403, text="forbidden")), NaverConfigError)
    assert isinstance(error_from_response(_error(400, "SE02", "Invalid display value")), NaverRequestError)
    error = error_from_response(_error(500, "SE99", "System error"))
    assert type(error) is NaverError and error.code == "SE99"


def test_only_transient_errors_are_retried() -> None:
    assert is_retryable(_error(429, "012", "Rate limit exceeded"))
    assert is_retryable(_error(500, "SE99"))
    assert not is_retryable(_error(429, "010", "Query limit exceeded"))
    assert not is_retryable(_error(401, "024"))


def test_non_object_payload_is_an_error() -> None:
    with pytest.raises(NaverError):
        parse_news_page(["items"])
