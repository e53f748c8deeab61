"""A/B tests: lifecycle, and per-variant statistics against hand-computed values."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from shared.evaluation.statistics import difference_ci, two_proportion_ztest, wilson_interval


def _create(client: Any, admin: Any, models: list[Any], name: str = "momentum-vs-sentiment", **extra: Any) -> Any:
    body = {
        "name": name,
        "description": "두 베이스라인 비교",
        "variants": [
            {"name": f"v{index}", "model_config_id": model.id, "weight": weight}
            for index, (model, weight) in enumerate(zip(models, (3.0, 1.0, 1.0), strict=False))
        ],
        **extra,
    }
    return client.post("/api/ab-test", json=body, headers=admin.headers)


@pytest.fixture
def two_models(market: Any) -> list[Any]:
    models = [market.model("momentum"), market.model("sentiment", provider="news_sentiment")]
    market.stock("005930", "삼성전자")
    market.commit()
    return models


def test_lifecycle(client: Any, admin_account: Any, two_models: list[Any]) -> None:
    created = _create(client, admin_account, two_models)
    assert created.status_code == 201, created.text
    test = created.json()
    assert test["status"] == "draft"
    assert [variant["traffic_share"] for variant in test["variants"]] == [0.75, 0.25]
    assert [variant["is_control"] for variant in test["variants"]] == [True, False]
    test_id = test["id"]
    assert client.post(f"/api/ab-test/{test_id}/stop", headers=admin_account.headers).status_code == 409
    assert (
        client.post(
            f"/api/ab-test/{test_id}/winner",
            json={"variant_id": test["variants"][1]["id"]},
            headers=admin_account.headers,
        ).status_code
        == 409
    )
    started = client.post(f"/api/ab-test/{test_id}/start", headers=admin_account.headers).json()
    assert started["status"] == "running" and started["started_at"].endswith("Z")
    assert client.post(f"/api/ab-test/{test_id}/start", headers=admin_account.headers).status_code == 409
    # A model serves one running test at a time: predictions are unique per (stock, model, day).
    rival = _create(client, admin_account, two_models, name="rival").json()
    busy = client.post(f"/api/ab-test/{rival['id']}/start", headers=admin_account.headers)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "invalid_state"
    stopped = client.post(f"/api/ab-test/{test_id}/stop", headers=admin_account.headers).json()
    assert stopped["status"] == "stopped" and stopped["stopped_at"]
    winner_id = test["variants"][1]["id"]
    early = client.post(f"/api/ab-test/{test_id}/winner", json={"variant_id": winner_id}, headers=admin_account.headers)
    assert early.status_code == 409 and "required sample size" in early.json()["error"]["message"]
    declared = client.post(
        f"/api/ab-test/{test_id}/winner", json={"variant_id": winner_id, "force": True}, headers=admin_account.headers
    )
    assert declared.json()["winner_variant_id"] == winner_id
    models = client.get("/api/models", headers=admin_account.headers).json()["items"]
    assert {model["name"]: model["is_champion"] for model in models} == {"momentum": False, "sentiment": True}
    listed = client.get("/api/ab-test", params={"status": "stopped"}, headers=admin_account.headers).json()
    assert [item["id"] for item in listed["items"]] == [test_id]


def test_declaring_a_winner_stops_a_running_test(client: Any, admin_account: Any, two_models: list[Any]) -> None:
    test = _create(client, admin_account, two_models).json()
    client.post(f"/api/ab-test/{test['id']}/start", headers=admin_account.headers)
    body = {"variant_id": test["variants"][0]["id"], "promote_to_champion": False, "force": True}
    declared = client.post(f"/api/ab-test/{test['id']}/winner", json=body, headers=admin_account.headers).json()
    assert declared["status"] == "stopped"
    other = _create(client, admin_account, two_models, name="other").json()
    foreign = client.post(
        f"/api/ab-test/{test['id']}/winner",
        json={"variant_id": other["variants"][0]["id"], "force": True},
        headers=admin_account.headers,
    )
    assert foreign.status_code == 404


def test_inactive_models_cannot_start(client: Any, admin_account: Any, two_models: list[Any], db_session: Any) -> None:
    test = _create(client, admin_account, two_models).json()
    two_models[1].active = False
    db_session.commit()
    refused = client.post(f"/api/ab-test/{test['id']}/start", headers=admin_account.headers)
    assert refused.status_code == 409 and "sentiment" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    "change",
    [
        {"variants": []},
        {"variants": [{"name": "only", "model_config_id": 1}]},
        {"variants": [{"name": "same", "model_config_id": 1}, {"name": "same", "model_config_id": 2}]},
        {"variants": [{"name": "a", "model_config_id": 1, "weight": 0}, {"name": "b", "model_config_id": 2}]},
        {"alpha": 0.9},
        {"min_detectable_effect": 0},
    ],
)
def test_invalid_tests_are_422(client: Any, admin_account: Any, two_models: list[Any], change: dict[str, Any]) -> None:
    body = {
        "name": "t",
        "variants": [{"name": "a", "model_config_id": 1}, {"name": "b", "model_config_id": 2}],
        **change,
    }
    assert client.post("/api/ab-test", json=body, headers=admin_account.headers).status_code == 422


def test_unknown_model_and_duplicate_name(client: Any, admin_account: Any, two_models: list[Any]) -> None:
    body = {
        "name": "t",
        "variants": [{"name": "a", "model_config_id": two_models[0].id}, {"name": "b", "model_config_id": 999}],
    }
    assert client.post("/api/ab-test", json=body, headers=admin_account.headers).status_code == 404
    assert _create(client, admin_account, two_models).status_code == 201
    assert _create(client, admin_account, two_models).status_code == 409
    assert client.get("/api/ab-test/999", headers=admin_account.headers).status_code == 404


@pytest.mark.parametrize("min_detectable_effect", [0.05, 0.3])
def test_statistics(
    client: Any, admin_account: Any, user_account: Any, market: Any, two_models: list[Any], min_detectable_effect: float
) -> None:
    test = _create(client, admin_account, two_models, min_detectable_effect=min_detectable_effect).json()
    control, challenger = test["variants"]
    # Control: 40 evaluated calls, 20 right (+ 5 not yet evaluated); challenger: 40 calls, 30 right.
    start = date(2023, 1, 2)
    codes = [f"{index:06d}" for index in range(1, 46)]
    for code in codes:
        market.stock(code, f"종목{code}")
    for index, code in enumerate(codes):
        correct = None if index >= 40 else index % 2 == 0
        market.prediction(code, two_models[0], start, ab_variant_id=control["id"], correct=correct, probability=0.6)
    for index, code in enumerate(codes[:40]):
        market.prediction(
            code,
            two_models[1],
            start + timedelta(days=1),
            ab_variant_id=challenger["id"],
            correct=index < 30,
            probability=0.7,
        )
    market.commit()
    body = client.get(f"/api/ab-test/{test['id']}", headers=user_account.headers).json()
    control_stats, challenger_stats = body["variants"]
    assert (control_stats["predictions"], control_stats["n"], control_stats["hits"]) == (45, 40, 20)
    assert (challenger_stats["n"], challenger_stats["hits"]) == (40, 30)
    assert (control_stats["hit_rate_low"], control_stats["hit_rate_high"]) == pytest.approx(wilson_interval(20, 40))
    [comparison] = body["comparisons"]
    z, p_value = two_proportion_ztest(20, 40, 30, 40)
    difference, low, high = difference_ci(20, 40, 30, 40)
    assert comparison["z"] == pytest.approx(z)
    assert comparison["p_value"] == pytest.approx(p_value)
    assert (comparison["difference"], comparison["difference_low"], comparison["difference_high"]) == pytest.approx(
        (difference, low, high)
    )
    assert comparison["difference"] == pytest.approx(0.25)
    assert p_value < 0.05
    if min_detectable_effect == 0.05:
        # 40 calls a side is far below the sample needed to detect a 5-point effect: no call yet.
        assert comparison["required_sample_size"] > 40
        assert comparison["sample_size_reached"] is False and comparison["significant"] is False
    else:
        # A 30-point effect needs 39 a side: reached, and the difference is significant.
        assert comparison["required_sample_size"] == 39
        assert comparison["sample_size_reached"] is True and comparison["significant"] is True


def test_statistics_without_data(client: Any, admin_account: Any, two_models: list[Any]) -> None:
    body = _create(client, admin_account, two_models).json()
    assert body["variants"][0]["n"] == 0 and body["variants"][0]["hit_rate"] is None
    assert body["comparisons"][0]["p_value"] is None and body["comparisons"][0]["significant"] is False
