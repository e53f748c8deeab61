"""The dashboard summary: numbers computed in SQL, cached in Redis, degrading to computing."""

from __future__ import annotations

from typing import Any

import pytest

from shared.evaluation.statistics import wilson_interval


def test_summary(client: Any, seeded_market: Any, user_account: Any) -> None:
    response = client.get("/api/dashboard", headers=user_account.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["latest_target_date"] == "2024-01-04"
    assert body["performance_as_of"] == "2024-01-03"
    assert body["counts"] == {
        "stocks_active": 3,
        "stocks_watched": 1,
        "models_active": 2,
        "ab_tests_running": 0,
        "predictions_total": 9,
        "predictions_latest_day": 3,
        "evaluations_total": 6,
        "awaiting_evaluation": 3,
        "news_total": 1,
    }
    assert [signal["probability"] for signal in body["top_signals"]] == [0.9, 0.7, 0.6]
    momentum, sentiment = body["model_performance"]
    assert momentum["model_name"] == "momentum-5d" and momentum["is_champion"] is True
    week = momentum["windows"][0]
    assert (week["days"], week["n"], week["hits"]) == (7, 4, 3)
    assert week["hit_rate"] == pytest.approx(0.75)
    low, high = wilson_interval(3, 4)
    assert (week["hit_rate_low"], week["hit_rate_high"]) == pytest.approx((low, high))
    assert week["brier"] == pytest.approx((0.19**2 + 0.64**2 + 0.45**2 + 0.23**2) / 4)
    assert sentiment["windows"][0]["n"] == 2
    movers = body["market_movers"]
    assert movers["date"] == "2024-01-04"
    assert [mover["code"] for mover in movers["gainers"]] == ["005930", "035720"]
    assert [mover["code"] for mover in movers["losers"]] == ["000660"]
    assert [mover["code"] for mover in movers["most_traded"]] == ["005930", "000660", "035720"]


def test_windows_are_trailing_from_the_latest_rolled_up_day(client: Any, market: Any, user_account: Any) -> None:
    from datetime import date

    market.stock("005930", "삼성전자")
    model = market.model("m")
    market.prediction("005930", model, date(2024, 3, 29), correct=True)
    market.prediction("005930", model, date(2024, 3, 1), correct=False)
    market.prediction("005930", model, date(2024, 1, 10), correct=False)
    market.prediction("005930", model, date(2023, 10, 1), correct=False)  # outside 90 days
    market.roll_up()
    market.commit()
    windows = client.get("/api/dashboard", headers=user_account.headers).json()["model_performance"][0]["windows"]
    assert [(window["days"], window["n"], window["hits"]) for window in windows] == [(7, 1, 1), (30, 2, 1), (90, 3, 1)]


def test_empty_database(client: Any, user_account: Any) -> None:
    body = client.get("/api/dashboard", headers=user_account.headers).json()
    assert body["latest_target_date"] is None
    assert body["top_signals"] == [] and body["model_performance"] == []
    assert body["market_movers"]["gainers"] == []


def test_summary_is_cached_until_invalidated(client: Any, seeded_market: Any, user_account: Any) -> None:
    from shared.stores.redis import invalidate_namespace

    first = client.get("/api/dashboard", headers=user_account.headers).json()
    seeded_market.stock("068270", "셀트리온")
    seeded_market.commit()
    cached = client.get("/api/dashboard", headers=user_account.headers).json()
    assert cached == first
    invalidate_namespace("dashboard")  # what evaluate does after writing results
    fresh = client.get("/api/dashboard", headers=user_account.headers).json()
    assert fresh["counts"]["stocks_active"] == 4


def test_redis_down_degrades_to_computing(
    client: Any, seeded_market: Any, user_account: Any, settings_env: Any
) -> None:
    settings_env(REDIS_URL="redis://127.0.0.1:1/0")
    response = client.get("/api/dashboard", headers=user_account.headers)
    assert response.status_code == 200
    assert response.json()["counts"]["predictions_total"] == 9


def test_dashboard_needs_a_user(client: Any) -> None:
    assert client.get("/api/dashboard").status_code == 401
