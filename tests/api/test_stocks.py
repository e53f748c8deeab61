"""Stocks: search, detail with the latest bar, price ranges, news, and admin management."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def test_list_with_latest_prices(client: Any, seeded_market: Any, user_account: Any) -> None:
    body = client.get("/api/stocks", headers=user_account.headers).json()
    assert body["total"] == 3
    assert [stock["code"] for stock in body["items"]] == ["000660", "005930", "035720"]
    samsung = body["items"][1]
    assert samsung["latest_price"]["close"] == 70000
    assert samsung["latest_price"]["change_rate"] == 0.031


def test_search_and_filters(client: Any, seeded_market: Any, user_account: Any) -> None:
    def codes(**params: Any) -> list[str]:
        response = client.get("/api/stocks", params=params, headers=user_account.headers)
        assert response.status_code == 200, response.text
        return [stock["code"] for stock in response.json()["items"]]

    assert codes(q="삼성") == ["005930"]
    assert codes(q="0006") == ["000660"]
    assert codes(q="하이닉스") == ["000660"]
    assert codes(sector="서비스업") == ["035720"]
    assert codes(market="KOSDAQ") == []
    assert codes(watched=True) == ["005930"]
    assert codes(q="%") == []
    assert client.get("/api/stocks", params={"market": "NYSE"}, headers=user_account.headers).status_code == 422


def test_detail(client: Any, seeded_market: Any, user_account: Any) -> None:
    body = client.get("/api/stocks/005930", headers=user_account.headers).json()
    assert body["name"] == "삼성전자"
    assert body["latest_price"]["date"] == "2024-01-04"
    assert body["latest_price"]["change"] == 2105
    assert client.get("/api/stocks/999999", headers=user_account.headers).status_code == 404
    assert client.get("/api/stocks/12345", headers=user_account.headers).status_code == 422


def test_prices_range(client: Any, market: Any, user_account: Any) -> None:
    market.stock("005930", "삼성전자")
    for day, close in [(2, 70000), (3, 71000), (4, 72000), (5, 71500)]:
        market.price("005930", date(2024, 1, day), close, 0.01)
    market.commit()
    ranged = client.get(
        "/api/stocks/005930/prices", params={"start": "2024-01-03", "end": "2024-01-04"}, headers=user_account.headers
    ).json()
    assert [bar["date"] for bar in ranged["items"]] == ["2024-01-03", "2024-01-04"]
    default = client.get("/api/stocks/005930/prices", headers=user_account.headers).json()
    assert default["end"] == "2024-01-05" and len(default["items"]) == 4
    backwards = client.get(
        "/api/stocks/005930/prices", params={"start": "2024-01-05", "end": "2024-01-01"}, headers=user_account.headers
    )
    assert backwards.status_code == 400
    assert backwards.json()["error"]["code"] == "invalid_range"
    too_long = client.get(
        "/api/stocks/005930/prices", params={"start": "2000-01-01", "end": "2024-01-01"}, headers=user_account.headers
    )
    assert too_long.status_code == 400
    assert (
        client.get("/api/stocks/005930/prices", params={"start": "yesterday"}, headers=user_account.headers).status_code
        == 422
    )


def test_stock_news_newest_first(client: Any, market: Any, user_account: Any) -> None:
    market.stock("005930", "삼성전자")
    market.stock("000660", "SK하이닉스")
    market.news("older", codes=("005930",), published_at=datetime(2024, 1, 2, tzinfo=UTC))
    market.news("newer", codes=("005930", "000660"), published_at=datetime(2024, 1, 3, tzinfo=UTC))
    market.news("other", codes=("000660",))
    market.commit()
    body = client.get("/api/stocks/005930/news", headers=user_account.headers).json()
    assert body["total"] == 2
    assert [item["title"] for item in body["items"]] == ["newer", "older"]


def test_admin_adds_edits_and_flags_stocks(client: Any, admin_account: Any, user_account: Any, database: str) -> None:
    new = {"code": "373220", "name": "LG에너지솔루션", "market": "KOSPI", "sector": "전기전자", "isin": "KR7373220003"}
    created = client.post("/api/stocks", json=new, headers=admin_account.headers)
    assert created.status_code == 201, created.text
    assert created.json()["active"] is True and created.json()["watched"] is False
    assert client.post("/api/stocks", json=new, headers=admin_account.headers).status_code == 409
    assert client.post("/api/stocks", json={**new, "code": "37322"}, headers=admin_account.headers).status_code == 422
    edited = client.patch("/api/stocks/373220", json={"name": "LG엔솔", "sector": None}, headers=admin_account.headers)
    assert edited.json()["name"] == "LG엔솔" and edited.json()["sector"] is None
    assert client.patch("/api/stocks/373220", json={"code": "000000"}, headers=admin_account.headers).status_code == 422
    assert client.post("/api/stocks/373220/watch", headers=admin_account.headers).json()["watched"] is True
    assert client.post("/api/stocks/373220/unwatch", headers=admin_account.headers).json()["watched"] is False
    assert client.post("/api/stocks/373220/deactivate", headers=admin_account.headers).json()["active"] is False
    assert client.post("/api/stocks/373220/activate", headers=admin_account.headers).json()["active"] is True
    assert client.post("/api/stocks/999999/watch", headers=admin_account.headers).status_code == 404
    assert client.post("/api/stocks", json=new, headers=user_account.headers).status_code == 403
