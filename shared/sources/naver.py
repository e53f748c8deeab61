"""Naver news search: one page of results per call, parsed into `NewsRecord`s.

Titles and snippets carry `<b>` highlights and HTML entities (stripped: tags first, then
`html.unescape`, so an escaped "&lt;b&gt;" in a headline survives as text). `pubDate` is
RFC 1123 with `+0900`. Error bodies are `{"errorMessage", "errorCode"}` and the code, not
the HTTP status, says what to do: 010 daily quota → stop for the day; 012 per-second limit
→ short backoff and retry; 024 authentication → configuration error, never retried;
SE99 / 5xx → retry with backoff.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.config import Settings, get_settings
from shared.market_calendar import KST
from shared.sources.http import UpstreamError, UpstreamUnavailableError, build_client, send_with_retries
from shared.sources.records import NewsRecord, ParsedBatch, RejectedRow

log = logging.getLogger(__name__)

NEWS_PATH = "/v1/search/news.json"
MAX_DISPLAY = 100
MAX_START = 1000

QUOTA_EXCEEDED = "010"
RATE_LIMITED = "012"
AUTH_FAILED = "024"

_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


class NaverError(UpstreamError):
    def __init__(self, message: str, *, code: str, status_code: int) -> None:
        super().__init__(message)
        self.code = code
        self.status_code = status_code


class NaverQuotaExceededError(NaverError):
    """The application's daily search quota is spent: nothing more until midnight KST."""


class NaverConfigError(NaverError):
    """Credentials or app permissions are wrong (024, 403): fix the configuration, do not retry."""


class NaverRequestError(NaverError):
    """The request itself is wrong (SE01–SE06): a bug on our side."""


@dataclass(frozen=True, slots=True)
class NewsPage:
    total: int
    start: int
    display: int
    item_count: int
    batch: ParsedBatch[NewsRecord]


def clean_text(raw: object) -> str:
    """Naver's highlighted HTML → plain text."""
    without_tags = _TAG.sub("", str(raw or ""))
    return _SPACES.sub(" ", html.unescape(without_tags)).strip()


def parse_pub_date(raw: object) -> datetime:
    text = str(raw or "").strip()
    if not text:
        raise ValueError("pubDate is missing")
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"pubDate is not an RFC 1123 date: {raw!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=KST)
    return parsed.astimezone(KST)


def source_of(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")[:200]


def _news_item(item: Mapping[str, Any]) -> NewsRecord:
    url = str(item.get("originallink") or "").strip() or str(item.get("link") or "").strip()
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"no usable URL in originallink/link: {url!r}")
    title = clean_text(item.get("title"))
    if not title:
        raise ValueError("title is empty")
    return NewsRecord(
        url=url,
        title=title,
        summary=clean_text(item.get("description")),
        source=source_of(url),
        published_at=parse_pub_date(item.get("pubDate")),
    )


def parse_news_page(payload: Any) -> NewsPage:
    """A search response → records, deduplicated by URL within the page; bad items rejected, not fatal."""
    if not isinstance(payload, Mapping):
        raise NaverError(f"Naver answered a non-object: {str(payload)[:200]!r}", code="", status_code=200)
    items = payload.get("items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise NaverError("Naver 'items' is not a list", code="", status_code=200)
    batch: ParsedBatch[NewsRecord] = ParsedBatch()
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, Mapping):
            batch.rejected.append(RejectedRow(raw={"item": item}, reason="item is not an object"))
            continue
        try:
            record = _news_item(item)
        except ValueError as exc:
            batch.rejected.append(RejectedRow(raw=dict(item), reason=str(exc)))
            continue
        if record.url in seen:
            continue
        seen.add(record.url)
        batch.records.append(record)
    return NewsPage(
        total=_int_or(payload.get("total"), 0),
        start=_int_or(payload.get("start"), 1),
        display=_int_or(payload.get("display"), len(items)),
        item_count=len(items),
        batch=batch,
    )


def _int_or(raw: object, default: int) -> int:
    try:
        return int(str(raw))
    except ValueError:
        return default


def _error_code(response: httpx.Response) -> tuple[str, str]:
    try:
        body = json.loads(response.text)
    except json.JSONDecodeError:
        return "", response.text[:200]
    if not isinstance(body, Mapping):
        return "", response.text[:200]
    return str(body.get("errorCode") or ""), str(body.get("errorMessage") or "")


def error_from_response(response: httpx.Response) -> NaverError:
    """The exception an error response stands for, chosen by its errorCode."""
    code, message = _error_code(response)
    text = f"Naver search failed: HTTP {response.status_code} {code} {message}".strip()
    if code == QUOTA_EXCEEDED:
        return NaverQuotaExceededError(text, code=code, status_code=response.status_code)
    if code == AUTH_FAILED or response.status_code in (401, 403):
        return NaverConfigError(text, code=code, status_code=response.status_code)
    if response.status_code < 500 and code != RATE_LIMITED:
        return NaverRequestError(text, code=code, status_code=response.status_code)
    return NaverError(text, code=code, status_code=response.status_code)


def is_retryable(response: httpx.Response) -> bool:
    """5xx (SE99) and the per-second limit (012) pass; the daily quota (010) never will today."""
    if response.status_code >= 500:
        return True
    if response.status_code == 429:
        return _error_code(response)[0] != QUOTA_EXCEEDED
    return False


class NaverNewsClient:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._client = build_client(
            base_url=self.settings.naver_base_url.rstrip("/"),
            headers={
                "X-Naver-Client-Id": self.settings.require("naver_client_id"),
                "X-Naver-Client-Secret": self.settings.require("naver_client_secret"),
                "Accept": "application/json",
            },
            settings=self.settings,
        )

    def close(self) -> None:
        self._client.close()

    def search(self, query: str, *, start: int = 1, display: int = MAX_DISPLAY) -> NewsPage:
        """One page of `query`'s news, newest first."""
        if not 1 <= start <= MAX_START:
            raise ValueError(f"start must be within 1..{MAX_START}, got {start}")
        params: dict[str, str | int] = {
            "query": query,
            "display": min(max(display, 1), MAX_DISPLAY),
            "start": start,
            "sort": "date",
        }
        try:
            response = send_with_retries(self._client, "GET", NEWS_PATH, params=params, is_retryable=is_retryable)
        except UpstreamUnavailableError as exc:
            raise NaverError(str(exc), code=_code_of_body(exc.body), status_code=exc.status_code) from exc
        if response.status_code != 200:
            raise error_from_response(response)
        try:
            payload = json.loads(response.text)
        except json.JSONDecodeError as exc:
            raise NaverError(f"Naver answered non-JSON: {response.text[:200]!r}", code="", status_code=200) from exc
        return parse_news_page(payload)


def _code_of_body(body: str) -> str:
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        return ""
    return str(parsed.get("errorCode") or "") if isinstance(parsed, Mapping) else ""
