"""Naver Search API, news: ``GET /v1/search/news.json`` with its auth, validation and quota errors."""

from __future__ import annotations

import html
import threading
from datetime import date, datetime, timedelta
from email.utils import format_datetime

from sandbox.clock import SandboxClock
from sandbox.news import Article, Newsroom
from sandbox.trading_calendar import FIRST_YEAR
from sandbox.wire import Request, Response

_JSON = "application/json; charset=UTF-8"
_MAX_LOOKBACK_DAYS = 3 * 366  # nobody can page past result 1,000 anyway
_MAX_PARTIAL_MATCHES = 30


def _error(status: int, code: str, message: str) -> Response:
    return Response.json({"errorMessage": message, "errorCode": code}, status, content_type=_JSON)


class NaverNews:
    def __init__(self, newsroom: Newsroom, clock: SandboxClock, client: tuple[str, str], daily_quota: int) -> None:
        self.newsroom = newsroom
        self.clock = clock
        self.client_id, self.client_secret = client
        self.daily_quota = daily_quota
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, date], int] = {}
        universe = newsroom.market.universe
        self._names = {s.name: s.code for s in universe.stocks}
        self._stocks = universe.stocks

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def handle(self, req: Request) -> Response | None:
        if not req.path.startswith("/v1/search/"):
            return None
        if req.path != "/v1/search/news.json":
            return _error(404, "SE05", "Invalid search api (없는 검색 api 입니다.)")
        if req.header("x-naver-client-id") != self.client_id:
            return _error(401, "024", "Not Exist Client ID : Authentication failed. (인증에 실패했습니다.)")
        if req.header("x-naver-client-secret") != self.client_secret:
            return _error(401, "024", "NID AUTH Result Invalid (28) : Authentication failed. (인증에 실패했습니다.)")
        now = self.clock.now()
        with self._lock:
            key = (self.client_id, now.date())  # the quota resets at midnight KST
            used = self._calls.get(key, 0)
            if used >= self.daily_quota:
                return _error(
                    429,
                    "010",
                    f"Query limit exceeded. (쿼리 한도를 초과했습니다.) {{count/quota={used}/{self.daily_quota}}}",
                )
            self._calls[key] = used + 1
        return self._search(req, now)

    def _search(self, req: Request, now: datetime) -> Response:
        query = (req.param("query") or "").strip()
        if not query:
            return _error(400, "SE01", "Incorrect query request (잘못된 쿼리요청입니다.)")
        try:
            display = int(req.param("display") or "10")
            if not 1 <= display <= 100:
                raise ValueError
        except ValueError:
            return _error(400, "SE02", "Invalid display value (부적절한 display 값입니다.)")
        try:
            start = int(req.param("start") or "1")
            if not 1 <= start <= 1000:
                raise ValueError
        except ValueError:
            return _error(400, "SE03", "Invalid start value (부적절한 start 값입니다.)")
        sort = req.param("sort") or "sim"
        if sort not in ("sim", "date"):
            return _error(400, "SE04", "Invalid sort value (부적절한 sort 값입니다.)")

        codes, highlights, filters = self._resolve(query)
        needed = start + display - 1
        if sort == "sim":
            needed = -(-needed // 10) * 10 + 10  # relevance reorders within blocks of ten
        found: list[Article] = []
        days = 0
        if codes:
            found, days = self._collect(codes, filters, now, needed)
        if sort == "sim":
            found = self._by_relevance(found, highlights)
        page = found[start - 1 : start - 1 + display]
        total = self.newsroom.estimate_total(codes, now, len(found), days) if codes else 0
        body = {
            "lastBuildDate": format_datetime(now),
            "total": total,
            "start": start,
            "display": len(page),
            "items": [self._item(a, highlights) for a in page],
        }
        return Response.json(body, content_type=_JSON)

    def _resolve(self, query: str) -> tuple[set[str], list[str], list[str]]:
        """Stocks a query names, the terms to highlight, and other terms every hit must contain."""
        exact = self._names.get(query) or (query if self.newsroom.market.universe.get(query) else None)
        if exact:
            return {exact}, [query], []
        codes: set[str] = set()
        filters: list[str] = []
        for token in query.split():
            code = self._names.get(token) or (token if self.newsroom.market.universe.get(token) else None)
            if code:
                codes.add(code)
                continue
            partial = [s.code for s in self._stocks if len(token) >= 2 and token.lower() in s.name.lower()]
            if partial:
                codes.update(partial[:_MAX_PARTIAL_MATCHES])
            else:
                filters.append(token)
        return codes, query.split(), filters

    def _collect(self, codes: set[str], filters: list[str], now: datetime, needed: int) -> tuple[list[Article], int]:
        found: list[Article] = []
        day = now.date()
        days = 0
        while len(found) < needed and day.year >= FIRST_YEAR and days < _MAX_LOOKBACK_DAYS:
            batch = [a for a in self.newsroom.mentioning(codes, day) if a.published <= now]
            if filters:
                batch = [a for a in batch if all(f.lower() in (a.title + a.description).lower() for f in filters)]
            batch.sort(key=lambda a: (a.published, a.key), reverse=True)
            found.extend(batch)
            days += 1
            day -= timedelta(days=1)
        return found, days

    @staticmethod
    def _by_relevance(found: list[Article], terms: list[str]) -> list[Article]:
        """Title hits first within each block of ten: recent, but not strictly by date."""
        out: list[Article] = []
        for i in range(0, len(found), 10):
            block = found[i : i + 10]
            block.sort(key=lambda a: not any(t in a.title for t in terms))
            out.extend(block)
        return out

    @staticmethod
    def _item(article: Article, terms: list[str]) -> dict[str, str]:
        def mark(text: str) -> str:
            escaped = html.escape(text, quote=True).replace("&#x27;", "&apos;")
            for term in sorted(set(terms), key=len, reverse=True):
                needle = html.escape(term, quote=True)
                if needle and needle in escaped and f"<b>{needle}</b>" not in escaped:
                    escaped = escaped.replace(needle, f"<b>{needle}</b>")
            return escaped

        return {
            "title": mark(article.title),
            "originallink": article.originallink,
            "link": article.link,
            "description": mark(article.description),
            "pubDate": format_datetime(article.published),
        }
