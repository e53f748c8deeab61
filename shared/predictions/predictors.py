"""Predictors: one interface for the LLM and the baselines, chosen by a model config's provider.

Baselines cost nothing and set the bar: momentum (sign of the last N-day return), a
news-sentiment lexicon over the same retrieved news the LLM sees, and the base rate
(the stock's majority realised direction).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from shared.config import get_settings
from shared.predictions.inputs import PredictionInput
from shared.predictions.lexicon import sentiment_score
from shared.predictions.models import Direction, ModelConfig


class PredictionFailed(Exception):
    """The model gave no usable answer; the reason is stored with a failed prediction."""

    def __init__(
        self, reason: str, *, prompt_tokens: int = 0, completion_tokens: int = 0, cost_usd: Decimal | None = None
    ):
        super().__init__(reason)
        self.reason = reason
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.cost_usd = cost_usd or Decimal("0")


class TransientModelError(RuntimeError):
    """The model's service is unavailable for now: the message is retried, nothing is stored."""


@dataclass(slots=True)
class PredictionOutcome:
    direction: Direction
    probability: float
    expected_return: float
    rationale: str
    evidence_news_ids: list[int] = field(default_factory=list)
    prompt_version: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal("0")


class Predictor(Protocol):
    # Whether the model reads news: retrieval is skipped for those that do not.
    uses_news: bool

    def predict(self, prediction_input: PredictionInput) -> PredictionOutcome: ...


def direction_of(value: float, flat_band: float) -> Direction:
    if value > flat_band:
        return Direction.UP
    if value < -flat_band:
        return Direction.DOWN
    return Direction.FLAT


class MomentumPredictor:
    uses_news = False

    def __init__(self, params: dict[str, Any]) -> None:
        self.lookback = int(params.get("lookback_days", get_settings().momentum_lookback_days))
        self.flat_band = get_settings().flat_band

    def predict(self, prediction_input: PredictionInput) -> PredictionOutcome:
        closes = [point.close for point in prediction_input.prices]
        if len(closes) < self.lookback + 1 or closes[-1 - self.lookback] <= 0:
            raise PredictionFailed(f"insufficient price history: need {self.lookback + 1} closes, have {len(closes)}")
        trailing = closes[-1] / closes[-1 - self.lookback] - 1
        direction = direction_of(trailing, self.flat_band)
        confidence = 0.5 + min(0.25, abs(trailing) * 2)
        return PredictionOutcome(
            direction=direction,
            probability=round(confidence, 4),
            expected_return=round(trailing / self.lookback, 6),
            rationale=f"{self.lookback}-day return {trailing:+.2%}: momentum says {direction.value}.",
        )


class NewsSentimentPredictor:
    uses_news = True

    def predict(self, prediction_input: PredictionInput) -> PredictionOutcome:
        scored = [(item.news_id, sentiment_score(f"{item.title} {item.summary}")) for item in prediction_input.news]
        total = sum(score for _, score in scored)
        direction = Direction.UP if total > 0 else Direction.DOWN if total < 0 else Direction.FLAT
        evidence = [news_id for news_id, score in scored if score != 0 and (score > 0) == (total > 0)]
        return PredictionOutcome(
            direction=direction,
            probability=round(0.5 + min(0.3, 0.04 * abs(total)), 4),
            expected_return=round(max(-0.03, min(0.03, 0.002 * total)), 6),
            rationale=f"Lexicon score {total:+d} over {len(scored)} news items.",
            evidence_news_ids=evidence[:5],
        )


class BaseRatePredictor:
    uses_news = False

    def __init__(self) -> None:
        self.flat_band = get_settings().flat_band

    def predict(self, prediction_input: PredictionInput) -> PredictionOutcome:
        returns = prediction_input.daily_returns()
        if not returns:
            raise PredictionFailed("insufficient price history: no past returns")
        counts = Counter(direction_of(value, self.flat_band) for value in returns)
        # Ties resolve in a fixed order so a re-run gives the same call.
        direction, hits = max(counts.items(), key=lambda item: (item[1], item[0] == Direction.UP, item[0]))
        mean = sum(returns) / len(returns)
        return PredictionOutcome(
            direction=direction,
            probability=round(hits / len(returns), 4),
            expected_return=round(mean, 6),
            rationale=f"{direction.value} on {hits} of the last {len(returns)} sessions.",
        )


def predictor_for(config: ModelConfig) -> Predictor:
    if config.provider == "momentum":
        return MomentumPredictor(config.params)
    if config.provider == "news_sentiment":
        return NewsSentimentPredictor()
    if config.provider == "base_rate":
        return BaseRatePredictor()
    if config.provider == "openai":
        from shared.llm.predictor import LLMPredictor

        return LLMPredictor(config)
    raise ValueError(f"unknown model provider {config.provider!r} for model {config.name!r}")
