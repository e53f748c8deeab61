"""The crawl jobs' knobs, gathered from the settings once per run."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings, get_settings
from shared.stocks.models import Market


@dataclass(frozen=True, slots=True)
class CrawlOptions:
    include_konex: bool = False
    # Stocks searched per news run when none are watched (Naver's quota is 25,000 calls a day).
    news_max_stocks: int = 300
    news_requests_per_second: float = 10.0
    embed_batch_size: int = 256
    embed_max_attempts: int = 5
    # One run stops after this many items so a backlog never runs into the Lambda timeout.
    embed_max_items_per_run: int = 20_000
    # Intraday |change| thresholds (percent) that trigger an alert on a watched stock.
    quote_alert_thresholds: tuple[float, ...] = (3.0, 5.0)
    # A cached KIS token is replaced this long before KIS says it expires.
    kis_token_refresh_margin_seconds: int = 600

    @property
    def markets(self) -> tuple[Market, ...]:
        base = (Market.KOSPI, Market.KOSDAQ)
        return (*base, Market.KONEX) if self.include_konex else base

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> CrawlOptions:
        settings = settings or get_settings()
        return cls(
            include_konex=settings.crawl_include_konex,
            news_max_stocks=settings.news_max_stocks,
            news_requests_per_second=settings.naver_requests_per_second,
            embed_batch_size=settings.embed_batch_size,
            embed_max_attempts=settings.embed_max_attempts,
            embed_max_items_per_run=settings.embed_max_items_per_run,
            quote_alert_thresholds=tuple(sorted(settings.quote_alert_thresholds)),
            kis_token_refresh_margin_seconds=settings.kis_token_refresh_margin_seconds,
        )
