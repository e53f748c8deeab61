"""Crawl knobs that `shared/config.py` does not define (yet), read in one place.

Each is looked up on the settings first, so once config.py gains the field (same name,
e.g. `CRAWL_INCLUDE_KONEX` in the environment) it takes over from the default here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.config import Settings, get_settings
from shared.stocks.models import Market


def _setting(settings: Settings, name: str, default: Any) -> Any:
    value = getattr(settings, name, None)
    return default if value is None else value


@dataclass(frozen=True, slots=True)
class CrawlOptions:
    include_konex: bool = False
    # Stocks searched per news run when none are watched (Naver's quota is 25,000 calls a day).
    news_max_stocks: int = 300
    news_requests_per_second: float = 10.0
    embed_batch_size: int = 64
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
        defaults = cls()
        return cls(
            include_konex=bool(_setting(settings, "crawl_include_konex", defaults.include_konex)),
            news_max_stocks=int(_setting(settings, "news_max_stocks", defaults.news_max_stocks)),
            news_requests_per_second=float(
                _setting(settings, "naver_requests_per_second", defaults.news_requests_per_second)
            ),
            embed_batch_size=int(_setting(settings, "embed_batch_size", defaults.embed_batch_size)),
            embed_max_attempts=int(_setting(settings, "embed_max_attempts", defaults.embed_max_attempts)),
            embed_max_items_per_run=int(
                _setting(settings, "embed_max_items_per_run", defaults.embed_max_items_per_run)
            ),
            quote_alert_thresholds=tuple(
                sorted(float(t) for t in _setting(settings, "quote_alert_thresholds", defaults.quote_alert_thresholds))
            ),
            kis_token_refresh_margin_seconds=int(
                _setting(settings, "kis_token_refresh_margin_seconds", defaults.kis_token_refresh_margin_seconds)
            ),
        )
