"""Model configurations: live performance from daily_performance, and admin writes."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from shared.evaluation.statistics import wilson_interval


def _performance_row(
    session: Any, model_id: int, day: date, n: int, hits: int, brier: float, variant: Any = None
) -> None:
    from shared.evaluation.models import DailyPerformance

    session.add(
        DailyPerformance(
            date=day,
            model_config_id=model_id,
            ab_variant_id=variant,
            n=n,
            hits=hits,
            hit_rate=hits / n,
            hit_rate_low=0.0,
            hit_rate_high=1.0,
            brier=brier,
            log_loss=0.6,
            mean_strategy_return=0.001,
            cumulative_strategy_return=0.0,
        )
    )


def test_list_with_windows_from_daily_performance(client: Any, market: Any, user_account: Any) -> None:
    champion = market.model("momentum-5d", is_champion=True)
    market.model("base-rate", provider="base_rate")
    _performance_row(market.session, champion.id, date(2024, 3, 29), 100, 60, 0.2)
    _performance_row(market.session, champion.id, date(2024, 3, 1), 100, 50, 0.3)
    _performance_row(market.session, champion.id, date(2023, 10, 1), 100, 10, 0.9)  # outside 90 days
    market.commit()
    body = client.get("/api/models", headers=user_account.headers).json()
    assert body["total"] == 2
    first, second = body["items"]
    assert first["name"] == "momentum-5d" and first["performance_as_of"] == "2024-03-29"
    windows = {window["days"]: window for window in first["performance"]}
    assert (windows[7]["n"], windows[7]["hits"]) == (100, 60)
    assert (windows[30]["n"], windows[30]["hits"]) == (200, 110)
    assert windows[90]["n"] == 200
    assert windows[30]["brier"] == pytest.approx(0.25)
    assert (windows[30]["hit_rate_low"], windows[30]["hit_rate_high"]) == pytest.approx(wilson_interval(110, 200))
    assert second["performance"] == []


def test_variant_rows_are_not_double_counted(client: Any, market: Any, user_account: Any) -> None:
    from shared.abtest.models import AbTest, AbVariant

    model = market.model("m")
    test = AbTest(name="t")
    market.session.add(test)
    market.session.flush()
    variant = AbVariant(ab_test_id=test.id, name="a", model_config_id=model.id)
    market.session.add(variant)
    market.session.flush()
    _performance_row(market.session, model.id, date(2024, 1, 5), 10, 6, 0.2)
    _performance_row(market.session, model.id, date(2024, 1, 5), 4, 3, 0.2, variant=variant.id)
    market.commit()
    window = client.get(f"/api/models/{model.id}", headers=user_account.headers).json()["performance"][0]
    assert (window["n"], window["hits"]) == (10, 6)


def test_admin_creates_updates_and_switches_models(client: Any, admin_account: Any, database: str) -> None:
    body = {
        "name": "gpt-4o-v2",
        "kind": "llm",
        "provider": "openai",
        "model_id": "gpt-4o",
        "prompt_version": "v2",
        "params": {"temperature": 0.2},
    }
    created = client.post("/api/models", json=body, headers=admin_account.headers)
    assert created.status_code == 201, created.text
    model_id = created.json()["id"]
    assert created.json()["active"] is True and created.json()["performance"] == []
    assert client.post("/api/models", json=body, headers=admin_account.headers).status_code == 409
    mismatched = client.post(
        "/api/models", json={**body, "name": "x", "provider": "momentum"}, headers=admin_account.headers
    )
    assert mismatched.status_code == 422
    unknown = client.post(
        "/api/models", json={**body, "name": "y", "provider": "anthropic"}, headers=admin_account.headers
    )
    assert unknown.status_code == 422
    updated = client.patch(
        f"/api/models/{model_id}",
        json={"prompt_version": "v3", "description": "새 프롬프트"},
        headers=admin_account.headers,
    )
    assert updated.json()["prompt_version"] == "v3"
    assert (
        client.patch(f"/api/models/{model_id}", json={"kind": "baseline"}, headers=admin_account.headers).status_code
        == 422
    )
    assert client.post(f"/api/models/{model_id}/deactivate", headers=admin_account.headers).json()["active"] is False
    assert client.post(f"/api/models/{model_id}/activate", headers=admin_account.headers).json()["active"] is True
    assert client.get("/api/models/9999", headers=admin_account.headers).status_code == 404


def test_rename_to_an_existing_name_is_409(client: Any, admin_account: Any, market: Any) -> None:
    market.model("a")
    b = market.model("b")
    market.commit()
    assert client.patch(f"/api/models/{b.id}", json={"name": "a"}, headers=admin_account.headers).status_code == 409


def test_a_model_in_a_running_test_cannot_be_deactivated(client: Any, admin_account: Any, market: Any) -> None:
    a, b = market.model("a"), market.model("b")
    market.commit()
    test = client.post(
        "/api/ab-test",
        json={
            "name": "a-vs-b",
            "variants": [{"name": "A", "model_config_id": a.id}, {"name": "B", "model_config_id": b.id}],
        },
        headers=admin_account.headers,
    ).json()
    client.post(f"/api/ab-test/{test['id']}/start", headers=admin_account.headers)
    refused = client.post(f"/api/models/{a.id}/deactivate", headers=admin_account.headers)
    assert refused.status_code == 409
    assert "a-vs-b" in refused.json()["error"]["message"]
