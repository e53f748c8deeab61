"""One real market day through all five functions, wired as template.yaml wires them.

crawl (listing, a price backfill, news, embed) → predict (schedule → predict queue → batches,
high-signal calls → notify queue) → notify (Telegram, sandbox) → crawl prices after the close →
evaluate → notify's daily summary; then the api serves what was made. The queues are moto's
server with the template's queues and dead-letter queues, the upstreams are the sandbox,
Postgres/Redis are real and Milvus is Milvus Lite. Running every scheduled function a second
time for the same day must change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from runner.events import HttpRequest, http_api_event
from runner.invoke import invoke
from runner.sqs import LocalAws, create_queues, drain, queue_environment, sqs_client
from runner.template import Template, load_template
from shared.db.models import (
    DailyPerformance,
    DailyPrice,
    Evaluation,
    JobRun,
    News,
    NewsStock,
    Notification,
    Prediction,
    Stock,
    User,
    WatchlistItem,
)
from shared.jobs.models import JobStatus
from shared.market_calendar import KST
from shared.news.models import EmbeddingStatus
from shared.notifications.models import NotificationStatus
from shared.predictions.models import PredictionStatus
from shared.users.models import Role

pytestmark = pytest.mark.slow

DAY = date(2024, 1, 8)
BACKFILL = ("2023-12-01", "2024-01-05")
WATCHED = ("005930", "000660", "035420", "005380", "051910")
SUBSCRIBER_CHAT = "7001"
BROADCAST_CHAT = "-1001234567890"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "Correct-Horse-42"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture
def wired(sandbox: Any, settings_env: Callable[..., Any], redis_client: Any, database: str) -> Iterator[dict[str, Any]]:
    template = load_template(TEMPLATE)
    with LocalAws() as aws:
        client = sqs_client(aws.endpoint_url)
        queues = create_queues(client, template)
        settings_env(
            **sandbox.env(),
            **queue_environment(template, queues),
            AWS_ENDPOINT_URL=aws.endpoint_url,
            TELEGRAM_BROADCAST_CHAT_ID=BROADCAST_CHAT,
            # Telegram's real per-chat pace (1/s) would make this test wait on the broadcast chat.
            TELEGRAM_CHAT_MESSAGES_PER_SECOND="100",
            TELEGRAM_GROUP_MESSAGES_PER_MINUTE="6000",
            NEWS_PAGES_PER_STOCK="1",
        )
        yield {"template": template, "client": client, "queues": queues, "sandbox": sandbox}


def _call(wired: dict[str, Any], function: str, event: dict[str, Any]) -> Any:
    template: Template = wired["template"]
    return invoke(template.function(function), event).result


def _drain(wired: dict[str, Any]) -> None:
    reports = drain(wired["client"], wired["template"], wired["queues"])
    assert all(report.remaining == 0 and report.dead_lettered == 0 and not report.errors for report in reports), reports


def _api(wired: dict[str, Any], method: str, path: str, *, token: str | None = None, body: Any = None) -> Any:
    raw_path, _, raw_query = path.partition("?")
    headers = [("host", "api.local"), ("content-type", "application/json")]
    if token:
        headers.append(("authorization", f"Bearer {token}"))
    payload = json.dumps(body).encode() if body is not None else b""
    event = http_api_event(HttpRequest(method, raw_path, raw_query, headers, payload))
    response = _call(wired, "api", event)
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def _morning(wired: dict[str, Any]) -> None:
    wired["sandbox"].set_clock(datetime.combine(DAY, time(8, 0), tzinfo=KST))
    for job in ("listing", "news", "embed"):
        assert _call(wired, "crawl", {"job": job, "date": DAY.isoformat()})["status"] == "succeeded"
    assert _call(wired, "predict", {"job": "run", "date": DAY.isoformat()})["status"] == "succeeded"
    _drain(wired)


def _after_close(wired: dict[str, Any]) -> None:
    wired["sandbox"].set_clock(datetime.combine(DAY, time(16, 10), tzinfo=KST))
    assert _call(wired, "crawl", {"job": "prices", "date": DAY.isoformat()})["status"] == "succeeded"
    assert _call(wired, "evaluate", {"job": "run", "date": DAY.isoformat()})["status"] == "succeeded"
    assert _call(wired, "notify", {"job": "daily_summary", "date": DAY.isoformat()})["status"] == "succeeded"
    _drain(wired)


def _snapshot(db_session: Any, sandbox: Any) -> dict[str, Any]:
    db_session.expire_all()

    def count(model: Any) -> int:
        return int(db_session.scalar(select(func.count()).select_from(model)))

    return {
        "stocks": count(Stock),
        "daily_prices": count(DailyPrice),
        "news": count(News),
        "news_stocks": count(NewsStock),
        "predictions": sorted(
            db_session.execute(
                select(Prediction.id, Prediction.stock_code, Prediction.direction, Prediction.probability)
            ).all()
        ),
        "evaluations": sorted(db_session.execute(select(Evaluation.prediction_id, Evaluation.brier)).all()),
        "performance": sorted(
            db_session.execute(
                select(DailyPerformance.model_config_id, DailyPerformance.n, DailyPerformance.hit_rate)
            ).all()
        ),
        "notifications": sorted(db_session.execute(select(Notification.dedupe_key, Notification.status)).all()),
        "telegram_messages": len(sandbox.telegram_messages),
    }


def test_one_market_day_through_all_five_functions(wired: dict[str, Any], db_session: Any) -> None:
    sandbox = wired["sandbox"]
    from shared.users import service as user_service
    from shared.users.schemas import UserCreate

    user_service.create(
        db_session=db_session, user_in=UserCreate(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, role=Role.ADMIN)
    )
    db_session.commit()

    # Before the open: the listing, a backfill of closes for the models' history.
    sandbox.set_clock(datetime.combine(DAY, time(7, 30), tzinfo=KST))
    assert _call(wired, "crawl", {"job": "listing", "date": DAY.isoformat()})["status"] == "succeeded"
    backfill = _call(wired, "crawl", {"job": "prices", "start": BACKFILL[0], "end": BACKFILL[1]})
    assert backfill["status"] == "succeeded"
    # The news job searches watched stocks (all active ones when none are watched).
    db_session.execute(Stock.__table__.update().where(Stock.code.in_(WATCHED)).values(watched=True))
    subscriber = User(
        email="investor@example.com", password_hash="x", telegram_chat_id=SUBSCRIBER_CHAT, min_probability=0.5
    )
    db_session.add(subscriber)
    db_session.flush()
    db_session.add(WatchlistItem(user_id=subscriber.id, stock_code="005930"))
    db_session.commit()

    _morning(wired)
    _after_close(wired)

    active = db_session.scalar(select(func.count()).select_from(Stock).where(Stock.active))
    assert active >= 30
    assert db_session.scalar(select(func.count()).select_from(DailyPrice).where(DailyPrice.date == DAY)) == active

    news = db_session.scalars(select(News)).all()
    assert news and all(item.embedding_status == EmbeddingStatus.DONE for item in news)
    assert all(item.published_at < datetime.combine(DAY, time(8, 0), tzinfo=KST) for item in news)

    predictions = db_session.scalars(select(Prediction)).all()
    assert len(predictions) == active * 4  # three baselines and the LLM (sandbox OpenAI)
    assert {row.target_date for row in predictions} == {DAY}
    ok = [row for row in predictions if row.status == PredictionStatus.OK]
    assert len(ok) >= active * 3
    assert db_session.scalar(select(func.count()).select_from(Evaluation)) == len(ok)
    performance = db_session.scalars(select(DailyPerformance).where(DailyPerformance.date == DAY)).all()
    assert len(performance) == 4 and sum(row.n for row in performance) == len(ok)

    # High-signal calls went out on Telegram (sandbox), each recorded once.
    sent = db_session.scalars(select(Notification).where(Notification.status == NotificationStatus.SENT)).all()
    messages = sandbox.telegram_messages
    assert sent and len(messages) == len(sent)
    assert {str(message["chat_id"]) for message in messages} <= {SUBSCRIBER_CHAT, BROADCAST_CHAT}
    assert all(message.get("parse_mode") == "HTML" for message in messages)
    assert any(str(message["chat_id"]) == SUBSCRIBER_CHAT for message in messages)  # the daily summary at least

    runs = db_session.execute(select(JobRun.function, JobRun.job, JobRun.status)).all()
    assert {(function, job) for function, job, _ in runs} >= {
        ("crawl", "listing"),
        ("crawl", "prices"),
        ("crawl", "news"),
        ("crawl", "embed"),
        ("predict", "run"),
        ("predict", "work"),
        ("evaluate", "run"),
        ("notify", "daily_summary"),
    }
    assert all(status == JobStatus.SUCCEEDED for _, _, status in runs)

    # The api serves it: health, login, predictions, dashboard.
    status, health = _api(wired, "GET", "/health")
    assert status == 200, health
    status, tokens = _api(wired, "POST", "/api/auth/login", body={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert status == 200, tokens
    token = tokens["access_token"]
    status, page = _api(wired, "GET", f"/api/predictions?target_date_from={DAY}&limit=5", token=token)
    assert status == 200 and page["total"] == len(predictions) and len(page["items"]) == 5
    status, dashboard = _api(wired, "GET", "/api/dashboard", token=token)
    assert status == 200, dashboard

    # The same day again, every scheduled function: nothing changes.
    before = _snapshot(db_session, sandbox)
    _morning(wired)
    _after_close(wired)
    assert _snapshot(db_session, sandbox) == before
