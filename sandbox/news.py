"""A deterministic newsroom: Korean financial headlines per stock per day, toned by the day's move.

Articles are a pure function of (seed, stock, day), so any query on any clock sees the same
corpus. About one in five articles also names a second stock (a neighbour in the same tier, so
that looking up who mentions a stock stays cheap even for the full universe); such an article
is found by queries for either stock, with the same ``originallink``.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from sandbox import vocabulary as vocab
from sandbox.market import Market
from sandbox.trading_calendar import FIRST_YEAR, KST
from sandbox.universe import Stock

Tone = Literal["positive", "negative", "neutral"]

_PRESS = (
    ("www.kfinance-daily.co.kr", "/news/articleView.html?idxno={n}"),
    ("news.maeil-market.com", "/view/{n}"),
    ("www.seoul-econ.kr", "/article/{n}"),
    ("www.stockbiz-today.com", "/news/{n}.html"),
    ("www.hanbit-ilbo.co.kr", "/economy/{n}"),
    ("biz.newswire-korea.kr", "/stock/{n}"),
    ("www.money-times.example.kr", "/news/{n}"),
)
_NEIGHBOURS = 3  # a second stock is one of the 3 neighbours on either side (same tier, code order)
_MENTION_RATE = 0.2


@dataclass(frozen=True, slots=True)
class Article:
    key: str
    published: datetime
    primary: str  # code of the stock the article is about
    mentions: tuple[str, ...]  # every stock code it names (primary first)
    title: str  # plain text; the Naver layer escapes and highlights
    description: str
    originallink: str
    link: str
    tone: Tone


class Newsroom:
    def __init__(self, market: Market) -> None:
        self.market = market
        self.seed = market.seed
        universe = market.universe
        tiers: dict[bool, list[str]] = {True: [], False: []}
        for stock in sorted(universe.stocks, key=lambda s: s.code):
            tiers[stock.is_default].append(stock.code)
        self._ring: dict[str, tuple[list[str], int]] = {}
        for codes in tiers.values():
            for i, code in enumerate(codes):
                self._ring[code] = (codes, i)
        self._cache: dict[tuple[str, int], tuple[Article, ...]] = {}
        self._lock = threading.Lock()

    def neighbours(self, code: str) -> list[str]:
        codes, i = self._ring[code]
        n = len(codes)
        found: list[str] = []
        for off in range(1, _NEIGHBOURS + 1):
            for j in ((i + off) % n, (i - off) % n):
                if codes[j] != code and codes[j] not in found:
                    found.append(codes[j])
        return found

    # ---- generation ---------------------------------------------------------------------
    def articles(self, code: str, day: date) -> tuple[Article, ...]:
        """Every article primarily about ``code`` published on ``day`` (any hour)."""
        key = (code, day.toordinal())
        found = self._cache.get(key)
        if found is None:
            found = self._generate(code, day)
            with self._lock:
                if len(self._cache) > 500_000:
                    self._cache.clear()
                self._cache[key] = found
        return found

    def _generate(self, code: str, day: date) -> tuple[Article, ...]:
        stock = self.market.universe.get(code)
        if stock is None or day.year < FIRST_YEAR:
            return ()
        if stock.listed_from is not None and day < stock.listed_from:
            return ()
        if stock.delisted_after is not None and day > stock.delisted_after:
            return ()
        rng = random.Random(f"{self.seed}:news:{code}:{day.toordinal()}")
        bar = self.market.bar(code, day)
        if bar is None:  # weekend or holiday: an occasional preview piece
            if rng.random() >= 0.3:
                return ()
            when = datetime.combine(day, time(8), KST) + timedelta(minutes=rng.randrange(600))
            return (self._article(stock, day, 0, when, "neutral", rng, weekend=True),)
        move = bar.day_return
        count = (3 + rng.randrange(3) if stock.is_default else 1 + rng.randrange(2)) + (abs(move) > 0.03)
        count += abs(move) > 0.06
        positive_share = 1 / (1 + math.exp(-move / 0.008))
        out: list[Article] = []
        for i in range(count):
            slot = rng.random()
            if slot < 0.25:  # pre-open
                start, span = time(6, 30), 150
            elif slot < 0.7:  # regular session
                start, span = time(9), 390
            else:  # after the close
                start, span = time(15, 30), 270
            when = datetime.combine(day, start, KST) + timedelta(minutes=rng.randrange(span))
            when = when.replace(second=rng.randrange(60))
            draw = rng.random()
            tone: Tone = "neutral" if draw < 0.25 else ("positive" if rng.random() < positive_share else "negative")
            out.append(self._article(stock, day, i, when, tone, rng, weekend=False))
        out.sort(key=lambda a: (a.published, a.key))
        return tuple(out)

    def _article(
        self, stock: Stock, day: date, i: int, when: datetime, tone: Tone, rng: random.Random, *, weekend: bool
    ) -> Article:
        fields = {"name": stock.name, "code": stock.code, "md": f"{day.month}월 {day.day}일"}
        if weekend:
            title = rng.choice(vocab.WEEKEND_TITLES).format(**fields)
            description = rng.choice(vocab.WEEKEND_DESCRIPTIONS).format(**fields)
        else:
            titles = vocab.TITLES[tone]
            if when.time() < time(15, 30):  # no "closed higher" headlines before the close
                titles = tuple(t for t in titles if "마감" not in t)
            title = rng.choice(titles).format(**fields)
            description = rng.choice(vocab.DESCRIPTIONS[tone]).format(**fields)
        mentions: tuple[str, ...] = (stock.code,)
        if rng.random() < _MENTION_RATE:
            other = self.market.universe.get(rng.choice(self.neighbours(stock.code)))
            if other is not None:
                description += rng.choice(vocab.SECOND_MENTION).format(name2=other.name)
                mentions = (stock.code, other.code)
        digest = hashlib.blake2b(f"{self.seed}:{stock.code}:{day.isoformat()}:{i}".encode(), digest_size=8)
        number = int.from_bytes(digest.digest(), "big")
        host, pattern = _PRESS[number % len(_PRESS)]
        originallink = f"https://{host}{pattern.format(n=number % 10_000_000)}"
        if rng.random() < 0.6:  # hosted on Naver News as well
            link = f"https://n.news.naver.com/mnews/article/{number % 900 + 1:03d}/{number % 10**10:010d}?sid=101"
        else:
            link = originallink
        return Article(digest.hexdigest(), when, stock.code, mentions, title, description, originallink, link, tone)

    # ---- retrieval ------------------------------------------------------------------------
    def mentioning(self, codes: set[str], day: date) -> list[Article]:
        """Articles published on ``day`` naming any of ``codes`` (own articles and mentions)."""
        sources: set[str] = set(codes)
        for code in codes:
            sources.update(self.neighbours(code))
        found: dict[str, Article] = {}
        for source in sorted(sources):
            for article in self.articles(source, day):
                if codes.intersection(article.mentions):
                    found[article.key] = article
        return list(found.values())

    def estimate_total(self, codes: set[str], now: datetime, seen: int, days_scanned: int) -> int:
        """A stable estimate of how many articles exist, as Naver reports a huge ``total``."""
        span = (now.date() - date(FIRST_YEAR, 1, 1)).days + 1
        if days_scanned >= span or days_scanned == 0:
            return seen
        return max(seen, round(seen / days_scanned * span))
