"""Fixtures for the api tests: a client, accounts with tokens, a small market, v2 events."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

PASSWORD = "Correct-Horse-42"


@pytest.fixture
def client(database: str, redis_client: Any) -> Iterator[TestClient]:
    from shared.api.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


@dataclass
class Account:
    id: int
    email: str
    password: str
    role: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@pytest.fixture
def make_account(db_session: Session) -> Callable[..., Account]:
    from shared.users import service as user_service
    from shared.users import tokens
    from shared.users.models import Role
    from shared.users.schemas import UserCreate

    def make(email: str | None = None, *, role: str = "user", password: str = PASSWORD, **fields: Any) -> Account:
        email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.com"
        user = user_service.create(
            db_session=db_session, user_in=UserCreate(email=email, password=password, role=Role(role))
        )
        for name, value in fields.items():
            setattr(user, name, value)
        db_session.commit()
        pair = tokens.issue_token_pair(db_session=db_session, user=user)
        return Account(
            id=user.id,
            email=user.email,
            password=password,
            role=role,
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
        )

    return make


@pytest.fixture
def user_account(make_account: Callable[..., Account]) -> Account:
    return make_account("analyst@example.com", role="user")


@pytest.fixture
def admin_account(make_account: Callable[..., Account]) -> Account:
    return make_account("admin@example.com", role="admin")


@dataclass
class Market:
    """A small, known market: stocks, two models, prices, news, predictions and evaluations."""

    session: Session
    ids: dict[str, Any] = field(default_factory=dict)

    def stock(self, code: str, name: str, market: str = "KOSPI", **fields: Any) -> Any:
        from shared.stocks.models import Market as MarketEnum
        from shared.stocks.models import Stock

        stock = Stock(code=code, name=name, market=MarketEnum(market), **fields)
        self.session.add(stock)
        self.session.flush()
        return stock

    def model(self, name: str, *, provider: str = "momentum", kind: str = "baseline", **fields: Any) -> Any:
        from shared.predictions.models import ModelConfig, ModelKind

        model = ModelConfig(name=name, kind=ModelKind(kind), provider=provider, model_id=provider, **fields)
        self.session.add(model)
        self.session.flush()
        return model

    def price(self, code: str, day: date, close: int, change_rate: float, *, value: int = 1_000_000) -> Any:
        from shared.stocks.models import DailyPrice

        change = round(close * change_rate / (1 + change_rate))
        bar = DailyPrice(
            code=code,
            date=day,
            open=close - change,
            high=max(close, close - change),
            low=min(close, close - change),
            close=close,
            volume=value // max(close, 1),
            value=value,
            change=change,
            change_rate=change_rate,
        )
        self.session.add(bar)
        self.session.flush()
        return bar

    def news(
        self, title: str, *, codes: tuple[str, ...] = (), published_at: datetime | None = None, **fields: Any
    ) -> Any:
        from shared.news.models import News, NewsStock

        item = News(
            url=f"https://news.example.com/{uuid.uuid4().hex}",
            title=title,
            summary=fields.pop("summary", f"{title} 요약"),
            source=fields.pop("source", "연합뉴스"),
            published_at=published_at or datetime(2024, 1, 2, 9, 0, tzinfo=UTC),
            **fields,
        )
        self.session.add(item)
        self.session.flush()
        for code in codes:
            self.session.add(NewsStock(news_id=item.id, stock_code=code))
        self.session.flush()
        return item

    def prediction(
        self,
        code: str,
        model: Any,
        target: date,
        *,
        direction: str = "up",
        probability: float = 0.6,
        correct: bool | None = None,
        **fields: Any,
    ) -> Any:
        from shared.evaluation.models import Evaluation
        from shared.predictions.models import Direction, Prediction

        prediction = Prediction(
            stock_code=code,
            model_config_id=model.id,
            as_of_date=fields.pop("as_of_date", target - timedelta(days=1)),
            target_date=target,
            direction=Direction(direction),
            probability=probability,
            expected_return=fields.pop("expected_return", 0.01 if direction == "up" else -0.01),
            rationale=fields.pop("rationale", "모멘텀이 이어질 것으로 보임"),
            **fields,
        )
        self.session.add(prediction)
        self.session.flush()
        if correct is not None:
            realized = direction if correct else ("down" if direction == "up" else "up")
            self.session.add(
                Evaluation(
                    prediction_id=prediction.id,
                    previous_close=70000,
                    actual_close=71000 if realized == "up" else 69000,
                    actual_return=0.0143 if realized == "up" else -0.0143,
                    realized_direction=Direction(realized),
                    correct=correct,
                    brier=(probability - (1.0 if correct else 0.0)) ** 2,
                    log_loss=0.5,
                    strategy_return=0.01 if correct else -0.01,
                )
            )
            self.session.flush()
        return prediction

    def roll_up(self) -> None:
        """daily_performance from the evaluations, as evaluate writes it (model totals: variant NULL)."""
        from sqlalchemy import text

        self.session.execute(text("DELETE FROM daily_performance"))
        self.session.execute(
            text(
                """
                INSERT INTO daily_performance (date, model_config_id, ab_variant_id, n, hits, hit_rate, hit_rate_low,
                    hit_rate_high, brier, log_loss, mean_strategy_return, cumulative_strategy_return)
                SELECT p.target_date, p.model_config_id, NULL, count(*), count(*) FILTER (WHERE e.correct),
                       avg(e.correct::int), 0, 1, avg(e.brier), avg(e.log_loss), avg(e.strategy_return), 0
                FROM evaluations e JOIN predictions p ON p.id = e.prediction_id
                GROUP BY p.target_date, p.model_config_id
                """
            )
        )

    def commit(self) -> None:
        self.session.commit()


@pytest.fixture
def market(db_session: Session) -> Market:
    return Market(db_session)


@pytest.fixture
def seeded_market(market: Market) -> Market:
    """Samsung, SK hynix, Kakao; momentum (champion) and sentiment models; three days of calls."""
    market.stock("005930", "삼성전자", "KOSPI", sector="전기전자", watched=True)
    market.stock("000660", "SK하이닉스", "KOSPI", sector="전기전자")
    market.stock("035720", "카카오", "KOSPI", sector="서비스업")
    momentum = market.model("momentum-5d", is_champion=True)
    sentiment = market.model("news-sentiment", provider="news_sentiment")
    days = [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)]
    for index, code in enumerate(["005930", "000660", "035720"]):
        market.price(code, days[-1], 70000 + 1000 * index, [0.031, -0.022, 0.004][index], value=10**9 * (3 - index))
    news = market.news("삼성전자, 4분기 실적 개선 기대", codes=("005930",))
    market.ids.update(momentum=momentum.id, sentiment=sentiment.id, news=news.id)
    market.ids["evaluated"] = market.prediction(
        "005930", momentum, days[0], probability=0.81, correct=True, evidence_news_ids=[news.id]
    ).id
    market.prediction("000660", momentum, days[0], direction="down", probability=0.64, correct=False)
    market.prediction("035720", momentum, days[0], direction="flat", probability=0.55, correct=True)
    market.prediction("005930", sentiment, days[0], probability=0.58, correct=False)
    market.prediction("005930", momentum, days[1], probability=0.77, correct=True)
    market.prediction("000660", sentiment, days[1], direction="down", probability=0.72, correct=True)
    market.ids["latest_samsung"] = market.prediction("005930", momentum, days[2], probability=0.9).id
    market.prediction("005930", sentiment, days[2], direction="down", probability=0.6)
    market.prediction("000660", momentum, days[2], direction="down", probability=0.7)
    market.roll_up()
    market.commit()
    return market


# --- API Gateway HTTP API (v2) events ----------------------------------------------


@pytest.fixture
def api_event(load_event: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """A v2 event in the stored shape, re-aimed at a method, path, query, headers and body."""

    def build(
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        request_id: str | None = None,
        source_ip: str = "198.51.100.23",
    ) -> dict[str, Any]:
        event = load_event("api_get_health")
        event["rawPath"] = path
        event["rawQueryString"] = urlencode(query or {})
        if query:
            event["queryStringParameters"] = dict(query)
        event["headers"] = {**event["headers"], **{name.lower(): value for name, value in (headers or {}).items()}}
        event["requestContext"]["http"].update(method=method, path=path, sourceIp=source_ip)
        event["requestContext"]["requestId"] = request_id or f"{uuid.uuid4().hex[:14]}="
        if json_body is not None:
            event["body"] = json.dumps(json_body)
            event["headers"]["content-type"] = "application/json"
        return event

    return build


@pytest.fixture
def invoke(lambda_context: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Call the real handler (Powertools decorators, Mangum, the app) with an event."""
    from functions.api.handler import lambda_handler

    def call(event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = lambda_handler(event, lambda_context)
        return response

    return call


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"]) if response.get("body") else None


@pytest.fixture
def parse_body() -> Callable[[dict[str, Any]], Any]:
    return body_of
