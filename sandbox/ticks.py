"""KRX tick sizes (호가가격단위) and price limits: generated prices must look like real quotes."""

from __future__ import annotations

import math

# (upper bound exclusive, tick) — the unified KOSPI/KOSDAQ table in force since 2023-01-25.
_TICKS: tuple[tuple[float, int], ...] = (
    (2_000, 1),
    (5_000, 5),
    (20_000, 10),
    (50_000, 50),
    (200_000, 100),
    (500_000, 500),
    (math.inf, 1_000),
)


def tick_size(price: float) -> int:
    """The quoting unit for a price level."""
    for bound, tick in _TICKS:
        if price < bound:
            return tick
    return _TICKS[-1][1]  # pragma: no cover - the table ends with infinity


def round_to_tick(price: float) -> int:
    """Nearest valid quote (never below one won)."""
    if price <= 1:
        return 1
    tick = tick_size(price)
    return max(tick, round(price / tick) * tick)


def floor_to_tick(price: float) -> int:
    tick = tick_size(price)
    return max(1, int(price // tick) * tick)


def ceil_to_tick(price: float) -> int:
    tick = tick_size(price)
    return max(1, math.ceil(price / tick) * tick)


def limit_prices(base: int) -> tuple[int, int]:
    """Upper and lower daily price limits (±30% of the base price, inside the band)."""
    return floor_to_tick(base * 1.3), ceil_to_tick(base * 0.7)
