"""Prediction lists (filters, sort, pages), latest per stock, and detail with evidence."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_list_defaults_newest_target_first_with_names(client: Any, seeded_market: Any, user_account: Any) -> None:
    response = client.get("/api/predictions", headers=user_account.headers)
    body = response.json()
    assert body["total"] == 9
    assert body["limit"] == 50 and body["offset"] == 0
    dates = [item["target_date"] for item in body["items"]]
    assert dates == sorted(dates, reverse=True)
    first = body["items"][0]
    assert first["stock_name"] and first["model_name"]
    evaluated = next(item for item in body["items"] if item["id"] == seeded_market.ids["evaluated"])
    assert evaluated["evaluation"]["correct"] is True


@pytest.mark.parametrize(
    ("query", "expected_total"),
    [
        ({"stock": "005930"}, 5),
        ({"direction": "down"}, 4),
        ({"min_probability": "0.75"}, 3),
        ({"evaluated": "true"}, 6),
        ({"evaluated": "false"}, 3),
        ({"target_from": "2024-01-03", "target_to": "2024-01-03"}, 2),
        ({"as_of_from": "2024-01-03"}, 3),
        ({"stock": "005930", "direction": "up", "evaluated": "true"}, 3),
        ({"status": "failed"}, 0),
    ],
)
def test_list_filters(
    client: Any, seeded_market: Any, user_account: Any, query: dict[str, str], expected_total: int
) -> None:
    response = client.get("/api/predictions", params=query, headers=user_account.headers)
    assert response.status_code == 200, response.text
    assert response.json()["total"] == expected_total
    assert len(response.json()["items"]) == expected_total


def test_list_filters_by_model(client: Any, seeded_market: Any, user_account: Any) -> None:
    response = client.get(
        "/api/predictions", params={"model_id": seeded_market.ids["sentiment"]}, headers=user_account.headers
    )
    assert {item["model_name"] for item in response.json()["items"]} == {"news-sentiment"}
    assert response.json()["total"] == 3


def test_list_sorts_by_probability_with_stable_ties(client: Any, seeded_market: Any, user_account: Any) -> None:
    response = client.get("/api/predictions", params={"sort": "-probability"}, headers=user_account.headers)
    probabilities = [item["probability"] for item in response.json()["items"]]
    assert probabilities == sorted(probabilities, reverse=True)
    ascending = client.get("/api/predictions", params={"sort": "probability"}, headers=user_account.headers)
    assert [item["probability"] for item in ascending.json()["items"]] == sorted(probabilities)


def test_pages_do_not_overlap_and_cover_everything(client: Any, seeded_market: Any, user_account: Any) -> None:
    seen: list[int] = []
    for offset in range(0, 9, 4):
        seen += _ids(
            client.get("/api/predictions", params={"limit": 4, "offset": offset}, headers=user_account.headers)
        )
    assert sorted(seen) == sorted(set(seen))
    assert len(seen) == 9


def test_limit_is_capped(client: Any, seeded_market: Any, user_account: Any, settings_env: Any) -> None:
    settings_env(PAGE_LIMIT_MAX="2")
    response = client.get("/api/predictions", params={"limit": 500}, headers=user_account.headers)
    assert response.json()["limit"] == 2
    assert len(response.json()["items"]) == 2


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"offset": "-1"},
        {"sort": "-nonsense"},
        {"direction": "sideways"},
        {"min_probability": "1.5"},
        {"target_from": "2024-02-30"},
        {"target_from": "2024-01-05", "target_to": "2024-01-01"},
        {"stock": "삼성전자"},
        {"model_id": "99999999999999999999"},
        {"evaluated": "maybe"},
    ],
)
def test_bad_filters_are_422(client: Any, seeded_market: Any, user_account: Any, query: dict[str, str]) -> None:
    response = client.get("/api/predictions", params=query, headers=user_account.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


def test_latest_per_stock(client: Any, seeded_market: Any, user_account: Any) -> None:
    response = client.get("/api/predictions/latest", headers=user_account.headers)
    body = response.json()
    assert body["total"] == 3
    by_stock = {item["stock_code"]: item for item in body["items"]}
    assert list(by_stock) == ["000660", "005930", "035720"]
    # Two models called Samsung for the latest day: the champion's call wins.
    assert by_stock["005930"]["id"] == seeded_market.ids["latest_samsung"]
    assert by_stock["035720"]["target_date"] == "2024-01-02"


def test_latest_for_one_stock_and_model(client: Any, seeded_market: Any, user_account: Any) -> None:
    response = client.get(
        "/api/predictions/latest",
        params={"stock": "005930", "model_id": seeded_market.ids["sentiment"]},
        headers=user_account.headers,
    )
    items = response.json()["items"]
    assert len(items) == 1
    assert items[0]["model_name"] == "news-sentiment"
    assert items[0]["target_date"] == "2024-01-04"


def test_detail_has_evaluation_rationale_and_evidence(client: Any, seeded_market: Any, user_account: Any) -> None:
    response = client.get(f"/api/predictions/{seeded_market.ids['evaluated']}", headers=user_account.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["rationale"]
    assert body["evaluation"]["actual_close"] == 71000
    assert body["evaluation"]["evaluated_at"].endswith("Z")
    assert [news["id"] for news in body["evidence"]] == [seeded_market.ids["news"]]
    assert body["evidence"][0]["published_at"] == "2024-01-02T09:00:00Z"


def test_detail_of_an_unknown_id_is_404(client: Any, seeded_market: Any, user_account: Any) -> None:
    response = client.get("/api/predictions/999999", headers=user_account.headers)
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "prediction 999999 not found", "details": None}


@pytest.mark.parametrize("bad_id", ["0", "-1", "abc", "99999999999999999999999"])
def test_detail_with_a_malformed_id_is_422(client: Any, user_account: Any, bad_id: str) -> None:
    assert client.get(f"/api/predictions/{bad_id}", headers=user_account.headers).status_code == 422


def test_predictions_need_a_user(client: Any, seeded_market: Any) -> None:
    assert client.get("/api/predictions").status_code == 401
    assert client.get("/api/predictions/latest").status_code == 401
    assert client.get(f"/api/predictions/{seeded_market.ids['evaluated']}").status_code == 401


def test_detail_statement_count_does_not_grow_with_evidence(
    client: Any, market: Any, user_account: Any, db_session: Any
) -> None:
    """No N+1: the detail takes the same number of statements for 1 or 20 evidence items."""
    from sqlalchemy import event

    from shared.db.session import get_engine

    market.stock("005930", "삼성전자")
    model = market.model("m")
    few = market.prediction("005930", model, date(2024, 1, 2))
    news_ids = [market.news(f"뉴스 {index}", codes=("005930",)).id for index in range(20)]
    few.evidence_news_ids = news_ids[:1]
    many = market.prediction("005930", model, date(2024, 1, 3), evidence_news_ids=news_ids)
    market.commit()

    statements: list[str] = []

    def count(*args: Any) -> None:
        if "FROM users" not in args[2]:  # the caller's auth state: read once, then cached
            statements.append(args[2])

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        client.get(f"/api/predictions/{few.id}", headers=user_account.headers)
        few_count = len(statements)
        statements.clear()
        response = client.get(f"/api/predictions/{many.id}", headers=user_account.headers)
        assert len(response.json()["evidence"]) == 20
        assert len(statements) == few_count
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)


def test_large_list_totals_are_cached_until_predictions_or_evaluations_are_written(
    client: Any, market: Any, user_account: Any, db_session: Any, settings_env: Any
) -> None:
    from shared.predictions import list_totals

    settings_env(PREDICTION_COUNT_CACHE_MIN_ROWS="2")
    market.stock("005930", "삼성전자")
    model = market.model("m")
    for day in (2, 3):
        market.prediction("005930", model, date(2024, 1, day))
    market.commit()

    def total(**params: Any) -> int:
        response = client.get("/api/predictions", params=params, headers=user_account.headers)
        assert response.status_code == 200, response.text
        return int(response.json()["total"])

    assert total() == 2
    market.prediction("005930", model, date(2024, 1, 4))  # written behind the writers' back
    market.commit()
    assert total() == 2  # 2 ≥ the threshold: served from the cache
    assert total(direction="up") == 3  # another filter is another total (and counted afresh)
    list_totals.invalidate()  # what predict and evaluate do after committing
    assert total() == 3


def test_small_list_totals_are_always_counted(
    client: Any, market: Any, user_account: Any, db_session: Any, settings_env: Any
) -> None:
    settings_env(PREDICTION_COUNT_CACHE_MIN_ROWS="1000")
    market.stock("005930", "삼성전자")
    model = market.model("m")
    market.prediction("005930", model, date(2024, 1, 2))
    market.commit()
    headers = user_account.headers
    assert client.get("/api/predictions", headers=headers).json()["total"] == 1
    market.prediction("005930", model, date(2024, 1, 3))
    market.commit()
    assert client.get("/api/predictions", headers=headers).json()["total"] == 2


def test_the_default_order_is_an_index_range_not_a_sort(db_session: Any, settings_env: Any) -> None:
    """Newest first (target_date, id descending) walks ix_predictions_target_date_id backwards."""
    from shared.predictions.queries import list_predictions
    from shared.predictions.schemas import PredictionFilters
    from tests.api.query_plans import plan_of_last_statement

    settings_env(PREDICTION_COUNT_CACHE_MIN_ROWS="1000000")
    plan = plan_of_last_statement(  # the page, sent after the count
        db_session,
        lambda: list_predictions(db_session=db_session, filters=PredictionFilters(), limit=50, offset=0),
    )
    assert "Index Scan Backward using ix_predictions_target_date_id" in plan, plan
