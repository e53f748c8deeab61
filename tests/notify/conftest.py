"""Fixtures for notify: the sandbox's Telegram Bot API, seeded subscribers, SQS events."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from sandbox.server import SandboxServer

TELEGRAM_TOKEN = "123456:sandbox-token"
BLOCKED_CHAT_ID = 1009  # the sandbox answers 403 "bot was blocked by the user" for this chat


@pytest.fixture(scope="session")
def _sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(telegram_token=TELEGRAM_TOKEN, telegram_blocked_chats=[BLOCKED_CHAT_ID]) as srv:
        yield srv


@pytest.fixture
def telegram_server(_sandbox: SandboxServer) -> Iterator[SandboxServer]:
    """The run's sandbox, with no messages, requests or faults left from another test."""
    _sandbox.reset()
    yield _sandbox
    _sandbox.reset()


@pytest.fixture
def telegram(telegram_server: Any, settings_env: Callable[..., Any], redis_client: Any) -> Any:
    """The sandbox's Telegram with notify pointed at it; limiter high enough not to slow tests."""
    settings_env(
        TELEGRAM_BASE_URL=telegram_server.base_url,
        TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
        TELEGRAM_MESSAGES_PER_SECOND="1000",
        TELEGRAM_CHAT_MESSAGES_PER_SECOND="1000",
        TELEGRAM_READ_TIMEOUT_SECONDS="2",
        FRONTEND_BASE_URL="https://stockinsight.example",
    )
    return telegram_server


# --- seed data --------------------------------------------------------------


@dataclass
class Seeded:
    users: dict[str, int]  # label -> user id
    model_ids: dict[str, int]
    prediction_ids: dict[str, int]


@pytest.fixture
def seed(db_session: Any) -> Callable[..., Seeded]:
    """Stocks, users (linked, unlinked, inactive, disabled, picky), watchlists, models, predictions."""
    from shared.predictions.models import Direction, ModelConfig, ModelKind, Prediction
    from shared.stocks.models import Market, Stock
    from shared.users.models import User, WatchlistItem

    def make(*, extra_subscribers: int = 0, stock_codes: tuple[str, ...] = ("005930", "000660")) -> Seeded:
        names = {"005930": "삼성전자", "000660": "SK하이닉스", "035420": "NAVER"}
        for code in stock_codes:
            db_session.add(Stock(code=code, name=names.get(code, f"종목{code}"), market=Market.KOSPI))
        db_session.flush()

        def user(label: str, chat_id: str | None, **kwargs: Any) -> User:
            row = User(
                email=f"{label}@example.com",
                password_hash="x",
                telegram_chat_id=chat_id,
                **kwargs,
            )
            db_session.add(row)
            return row

        people = {
            "alice": user("alice", "1001"),
            "bob": user("bob", "1002", min_probability=0.5),
            "carol_picky": user("carol_picky", "1003", min_probability=0.95),
            "dave_unlinked": user("dave_unlinked", None),
            "erin_inactive": user("erin_inactive", "1005", active=False),
            "frank_muted": user("frank_muted", "1006", notifications_enabled=False),
        }
        for index in range(extra_subscribers):
            people[f"sub{index}"] = user(f"sub{index}", str(2_000_000 + index), min_probability=0.5)
        db_session.flush()
        for label, row in people.items():
            for code in stock_codes[:1] if label != "bob" else stock_codes:
                db_session.add(WatchlistItem(user_id=row.id, stock_code=code))
        models = {
            "gpt-4o-v1": ModelConfig(name="gpt-4o-v1", kind=ModelKind.LLM, provider="openai", model_id="gpt-4o"),
            "momentum-5d": ModelConfig(
                name="momentum-5d", kind=ModelKind.BASELINE, provider="momentum", model_id="momentum"
            ),
        }
        db_session.add_all(models.values())
        db_session.flush()
        predictions: dict[str, int] = {}
        for code in stock_codes:
            for model_name, model in models.items():
                prediction = Prediction(
                    stock_code=code,
                    model_config_id=model.id,
                    as_of_date=date(2024, 1, 2),
                    target_date=date(2024, 1, 3),
                    direction=Direction.UP,
                    probability=0.8,
                    rationale="반도체 업황 개선 <기대> & 외국인 순매수",
                )
                db_session.add(prediction)
                db_session.flush()
                predictions[f"{code}:{model_name}"] = prediction.id
        db_session.commit()
        return Seeded(
            users={label: row.id for label, row in people.items()},
            model_ids={name: model.id for name, model in models.items()},
            prediction_ids=predictions,
        )

    return make


# --- queue messages -----------------------------------------------------------


def signal_body(prediction_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "signal",
        "prediction_id": prediction_id,
        "stock_code": "005930",
        "stock_name": "삼성전자",
        "model_name": "gpt-4o-v1",
        "direction": "up",
        "probability": 0.82,
        "expected_return": 0.012,
        "rationale": "반도체 업황 개선 <기대> & 외국인 순매수",
        "target_date": "2024-01-03",
    }
    body.update(overrides)
    return body


def alert_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "alert",
        "stock_code": "005930",
        "stock_name": "삼성전자",
        "price": 78_500,
        "change_rate": 5.37,
        "threshold": 5.0,
        "day": "2024-01-03",
    }
    body.update(overrides)
    return body


def sqs_record(body: dict[str, Any] | str, *, receive_count: int = 1) -> dict[str, Any]:
    """One record in the shape Lambda's SQS event source delivers."""
    raw = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": f"AQEB{uuid.uuid4().hex}",
        "body": raw,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1704240000000",
            "SenderId": "AROAEXAMPLE:stockinsight-predict",
            "ApproximateFirstReceiveTimestamp": "1704240000100",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(raw.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:ap-northeast-2:123456789012:stockinsight-notify",
        "awsRegion": "ap-northeast-2",
    }


@pytest.fixture
def sqs_event() -> Callable[..., dict[str, Any]]:
    def build(*bodies: dict[str, Any] | str) -> dict[str, Any]:
        return {"Records": [sqs_record(body) for body in bodies]}

    return build


@pytest.fixture
def bodies() -> Any:
    """Queue message builders: `bodies.signal(prediction_id)`, `bodies.alert()`."""

    class Bodies:
        signal = staticmethod(signal_body)
        alert = staticmethod(alert_body)

    return Bodies


@pytest.fixture
def score(db_session: Any) -> Callable[..., None]:
    """Evaluations for every prediction of a target date, and the models' daily_performance rows."""
    from sqlalchemy import select

    from shared.evaluation.models import DailyPerformance, Evaluation
    from shared.predictions.models import Direction, Prediction

    def apply(target_date: date, *, wrong_codes: tuple[str, ...] = ("000660",)) -> None:
        predictions = db_session.scalars(select(Prediction).where(Prediction.target_date == target_date)).all()
        by_model: dict[int, list[bool]] = {}
        for prediction in predictions:
            correct = prediction.stock_code not in wrong_codes
            actual_return = 0.0123 if correct else -0.0087
            db_session.add(
                Evaluation(
                    prediction_id=prediction.id,
                    previous_close=70_000,
                    actual_close=round(70_000 * (1 + actual_return)),
                    actual_return=actual_return,
                    realized_direction=Direction.UP if correct else Direction.DOWN,
                    correct=correct,
                    brier=0.04 if correct else 0.64,
                    log_loss=0.22 if correct else 1.61,
                    strategy_return=abs(actual_return) * (1 if correct else -1),
                )
            )
            by_model.setdefault(prediction.model_config_id, []).append(correct)
        for model_id, results in by_model.items():
            hits = sum(results)
            db_session.add(
                DailyPerformance(
                    date=target_date,
                    model_config_id=model_id,
                    ab_variant_id=None,
                    n=len(results),
                    hits=hits,
                    hit_rate=hits / len(results),
                    hit_rate_low=0.0,
                    hit_rate_high=1.0,
                    brier=0.3,
                    log_loss=0.9,
                    mean_strategy_return=0.001,
                    cumulative_strategy_return=0.001,
                )
            )
        db_session.commit()

    return apply


class SandboxProcess:
    """The sandbox in a process of its own, for throughput: in-process, it and the sender
    share one GIL and each halves the other's speed. Same test API, over its control routes."""

    def __init__(self, *, flood_control: bool = False) -> None:
        import subprocess
        import sys

        command = [sys.executable, "-m", "sandbox", "--port", "0"]
        if flood_control:
            command.append("--telegram-flood-control")
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        self.base_url = self._process.stdout.readline().strip()
        if not self.base_url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"sandbox process did not start: {self.base_url!r}")

    def _control(self, method: str, action: str) -> Any:
        import httpx

        response = httpx.request(method, f"{self.base_url}/_sandbox/{action}", timeout=30)
        response.raise_for_status()
        return response.json()

    @property
    def telegram_messages(self) -> list[dict[str, Any]]:
        return list(self._control("GET", "telegram/messages")["messages"])

    def reset(self) -> None:
        self._control("POST", "reset")

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


@pytest.fixture
def telegram_process(settings_env: Callable[..., Any], redis_client: Any) -> Iterator[SandboxProcess]:
    """A sandbox process (flood control off) with notify pointed at it."""
    process = SandboxProcess()
    try:
        settings_env(
            TELEGRAM_BASE_URL=process.base_url,
            TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
            FRONTEND_BASE_URL="https://stockinsight.example",
        )
        yield process
    finally:
        process.stop()
