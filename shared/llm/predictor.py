"""The LLM model: OpenAI chat completions with a strict JSON schema, the retrieved news as evidence.

Output that fails validation (bad JSON, unknown news ids, probability out of range, a
refusal, a truncated answer) is retried once, then reported as a failed prediction with
the reason; the tokens spent are counted either way. Any OpenAI-compatible base URL works.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from functools import lru_cache
from typing import Any

from openai import APIConnectionError, APIError, APITimeoutError, InternalServerError, OpenAI, RateLimitError

from shared.config import Settings, get_settings
from shared.llm.prompts import load_prompt
from shared.predictions.inputs import PredictionInput
from shared.predictions.models import Direction, ModelConfig
from shared.predictions.predictors import PredictionFailed, PredictionOutcome, TransientModelError

log = logging.getLogger(__name__)

PREDICTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "direction": {"type": "string", "enum": ["up", "down", "flat"]},
        "probability": {"type": "number"},
        "expected_return": {"type": "number"},
        "rationale": {"type": "string"},
        "evidence_news_ids": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["direction", "probability", "expected_return", "rationale", "evidence_news_ids"],
    "additionalProperties": False,
}
RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "stock_prediction", "strict": True, "schema": PREDICTION_SCHEMA},
}
VALIDATION_ATTEMPTS = 2


class InvalidModelOutput(ValueError):
    """The model's answer failed validation: bad JSON, unknown news ids, a probability out of range."""


def is_transient(exc: APIError) -> bool:
    """Rate limits, timeouts, connection errors and 5xx pass; a spent quota or a bad request does not."""
    if isinstance(exc, RateLimitError):
        return getattr(exc, "code", None) != "insufficient_quota"
    return isinstance(exc, APITimeoutError | APIConnectionError | InternalServerError)


@lru_cache(maxsize=1)
def openai_client() -> OpenAI:
    """One client per container; the SDK retries 429/5xx/timeouts with backoff and honours retry-after."""
    settings = get_settings()
    return OpenAI(
        api_key=settings.require("openai_api_key"),
        base_url=settings.openai_base_url,
        timeout=settings.http_timeout_seconds * 6,
        max_retries=settings.http_max_attempts,
    )


def token_cost(settings: Settings, model_id: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
    table = settings.openai_prices_per_million
    # Dated snapshots ("gpt-4o-2024-08-06") are priced like their family; unknown models cost 0.
    family = next((key for key in sorted(table, key=len, reverse=True) if model_id.startswith(key)), None)
    prices: list[float] = table[family] if family is not None else [0.0, 0.0]
    cost = (prompt_tokens * prices[0] + completion_tokens * prices[1]) / 1_000_000
    return Decimal(str(round(cost, 6)))


def parse_model_output(content: str | None, *, allowed_news_ids: set[int]) -> dict[str, Any]:
    if content is None:
        raise InvalidModelOutput("empty answer")
    try:
        payload = json.loads(content)
    except json.JSONDecodeError as exc:
        raise InvalidModelOutput(f"answer is not JSON: {exc.msg}") from exc
    if not isinstance(payload, dict):
        raise InvalidModelOutput("answer is not a JSON object")
    missing = [key for key in PREDICTION_SCHEMA["required"] if key not in payload]
    if missing:
        raise InvalidModelOutput(f"answer lacks {missing}")
    if payload["direction"] not in {"up", "down", "flat"}:
        raise InvalidModelOutput(f"unknown direction {payload['direction']!r}")
    probability = payload["probability"]
    if not isinstance(probability, int | float) or not 0.0 <= float(probability) <= 1.0:
        raise InvalidModelOutput(f"probability {probability!r} outside [0, 1]")
    if not isinstance(payload["expected_return"], int | float) or abs(float(payload["expected_return"])) > 0.3:
        raise InvalidModelOutput(f"expected_return {payload['expected_return']!r} is not a plausible daily return")
    ids = payload["evidence_news_ids"]
    if not isinstance(ids, list) or not all(isinstance(item, int) for item in ids):
        raise InvalidModelOutput("evidence_news_ids must be a list of integers")
    unknown = sorted(set(ids) - allowed_news_ids)
    if unknown:
        raise InvalidModelOutput(f"evidence_news_ids {unknown} were not among the news provided")
    if not isinstance(payload["rationale"], str):
        raise InvalidModelOutput("rationale must be a string")
    return payload


class LLMPredictor:
    uses_news = True

    def __init__(self, config: ModelConfig) -> None:
        settings = get_settings()
        self.settings = settings
        self.model_id = config.model_id
        self.prompt = load_prompt("prediction", config.prompt_version or "v1")
        self.temperature = float(config.params.get("temperature", settings.llm_temperature))
        self.max_tokens = int(config.params.get("max_tokens", 600))

    def _messages(self, prediction_input: PredictionInput) -> list[dict[str, str]]:
        returns = [0.0, *prediction_input.daily_returns()]
        price_table = (
            "\n".join(
                f"{point.day.isoformat()}, {point.close:,}, {ret:+.2%}, {point.volume:,}"
                for point, ret in zip(prediction_input.prices, returns, strict=False)
            )
            or "(가격 자료 없음)"
        )
        news_list = (
            "\n".join(
                f"[id={item.news_id}] {item.published_at.isoformat(timespec='minutes')} "
                f"{item.title} — {item.summary[:200]}"
                for item in prediction_input.news
            )
            or "(관련 뉴스 없음)"
        )
        user = self.prompt.render_user(
            stock_name=prediction_input.stock_name,
            stock_code=prediction_input.stock_code,
            as_of_date=prediction_input.as_of_date.isoformat(),
            target_date=prediction_input.target_date.isoformat(),
            n_prices=len(prediction_input.prices),
            price_table=price_table,
            cutoff=prediction_input.cutoff.isoformat(timespec="minutes"),
            news_list=news_list,
        )
        return [{"role": "system", "content": self.prompt.system}, {"role": "user", "content": user}]

    def predict(self, prediction_input: PredictionInput) -> PredictionOutcome:
        messages = self._messages(prediction_input)
        allowed = {item.news_id for item in prediction_input.news}
        prompt_tokens = completion_tokens = 0
        last_error = "no attempt made"
        for attempt in range(1, VALIDATION_ATTEMPTS + 1):
            try:
                request: dict[str, Any] = {
                    "model": self.model_id,
                    "messages": messages,
                    "temperature": self.temperature,
                    "max_tokens": self.max_tokens,
                    "response_format": RESPONSE_FORMAT,
                }
                response = openai_client().chat.completions.create(**request)
            except APIError as exc:
                if is_transient(exc):
                    # Outlasted the SDK's own retries: the queue retries the message later;
                    # nothing is stored, so the redelivery predicts afresh.
                    raise TransientModelError(f"{type(exc).__name__}: {str(exc)[:300]}") from exc
                raise PredictionFailed(
                    f"OpenAI error: {type(exc).__name__}: {str(exc)[:300]}",
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    cost_usd=token_cost(self.settings, self.model_id, prompt_tokens, completion_tokens),
                ) from exc
            if response.usage is not None:
                prompt_tokens += response.usage.prompt_tokens
                completion_tokens += response.usage.completion_tokens
            choice = response.choices[0]
            try:
                if choice.finish_reason == "length":
                    raise InvalidModelOutput("answer truncated at max_tokens")
                if getattr(choice.message, "refusal", None):
                    raise InvalidModelOutput(f"model refused: {choice.message.refusal}")
                payload = parse_model_output(choice.message.content, allowed_news_ids=allowed)
            except InvalidModelOutput as exc:
                last_error = str(exc)
                log.warning(
                    "invalid model output",
                    extra={"attempt": attempt, "error": last_error, "stock_code": prediction_input.stock_code},
                )
                continue
            return PredictionOutcome(
                direction=Direction(payload["direction"]),
                probability=float(payload["probability"]),
                expected_return=float(payload["expected_return"]),
                rationale=payload["rationale"].strip()[:2000],
                evidence_news_ids=list(dict.fromkeys(payload["evidence_news_ids"])),
                prompt_version=self.prompt.version,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost_usd=token_cost(self.settings, self.model_id, prompt_tokens, completion_tokens),
            )
        raise PredictionFailed(
            f"invalid model output after {VALIDATION_ATTEMPTS} attempts: {last_error}",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=token_cost(self.settings, self.model_id, prompt_tokens, completion_tokens),
        )
