"""The real Lambda handler with API Gateway HTTP API (v2) events: Powertools, Mangum, the app."""

from __future__ import annotations

from typing import Any


def test_health_event(invoke: Any, load_event: Any, parse_body: Any, database: str) -> None:
    event = load_event("api_get_health")
    response = invoke(event)
    assert response["statusCode"] == 200
    assert parse_body(response)["status"] == "ok"
    # The gateway's request id is the response's and the logs' correlation id.
    assert response["headers"]["x-request-id"] == event["requestContext"]["requestId"]


def test_login_event(invoke: Any, load_event: Any, parse_body: Any, user_account: Any, redis_client: Any) -> None:
    response = invoke(load_event("api_post_login"))
    assert response["statusCode"] == 200, response["body"]
    body = parse_body(response)
    assert body["token_type"] == "bearer"
    assert response["headers"]["access-control-allow-origin"] == "http://localhost:3000"


def test_login_throttle_uses_the_gateway_source_ip(
    invoke: Any, api_event: Any, user_account: Any, redis_client: Any, settings_env: Any
) -> None:
    from shared.users.login_throttle import IP_LIMIT_FACTOR

    settings_env(LOGIN_ATTEMPTS_PER_WINDOW="2")
    for index in range(2 * IP_LIMIT_FACTOR):
        event = api_event("POST", "/api/auth/login", json_body={"email": f"x{index}@example.com", "password": "nope"})
        assert invoke(event)["statusCode"] == 401
    blocked = api_event(
        "POST", "/api/auth/login", json_body={"email": "analyst@example.com", "password": "Correct-Horse-42"}
    )
    assert invoke(blocked)["statusCode"] == 429
    elsewhere = api_event(
        "POST",
        "/api/auth/login",
        json_body={"email": "analyst@example.com", "password": "Correct-Horse-42"},
        source_ip="192.0.2.77",
    )
    assert invoke(elsewhere)["statusCode"] == 200


def test_predictions_event_with_query_string(
    invoke: Any, load_event: Any, parse_body: Any, seeded_market: Any, user_account: Any, redis_client: Any
) -> None:
    event = load_event("api_get_predictions")
    event["headers"]["authorization"] = f"Bearer {user_account.access_token}"
    response = invoke(event)
    assert response["statusCode"] == 200, response["body"]
    body = parse_body(response)
    assert body["limit"] == 20
    assert {item["stock_code"] for item in body["items"]} == {"005930"}
    assert {item["direction"] for item in body["items"]} == {"up"}
    probabilities = [item["probability"] for item in body["items"]]
    assert probabilities == sorted(probabilities, reverse=True)


def test_prediction_detail_and_dashboard_events(
    invoke: Any, api_event: Any, parse_body: Any, seeded_market: Any, user_account: Any, redis_client: Any
) -> None:
    headers = {"Authorization": f"Bearer {user_account.access_token}"}
    detail = invoke(api_event("GET", f"/api/predictions/{seeded_market.ids['evaluated']}", headers=headers))
    assert detail["statusCode"] == 200
    assert parse_body(detail)["evidence"]
    dashboard = invoke(api_event("GET", "/api/dashboard", headers=headers))
    assert dashboard["statusCode"] == 200
    assert parse_body(dashboard)["counts"]["predictions_total"] == 9


def test_errors_through_the_handler(invoke: Any, api_event: Any, parse_body: Any, database: str) -> None:
    unauthenticated = invoke(api_event("GET", "/api/auth/me", request_id="gw-req-401="))
    assert unauthenticated["statusCode"] == 401
    assert parse_body(unauthenticated)["error"]["code"] == "unauthorized"
    assert unauthenticated["headers"]["x-request-id"] == "gw-req-401="
    missing = invoke(api_event("GET", "/api/no/such/route"))
    assert missing["statusCode"] == 404
    assert parse_body(missing)["error"]["code"] == "not_found"


def test_base64_encoded_form_body(
    invoke: Any, api_event: Any, parse_body: Any, user_account: Any, redis_client: Any
) -> None:
    import base64

    event = api_event("POST", "/api/auth/token")
    event["headers"]["content-type"] = "application/x-www-form-urlencoded"
    event["body"] = base64.b64encode(
        b"grant_type=password&username=analyst%40example.com&password=Correct-Horse-42"
    ).decode()
    event["isBase64Encoded"] = True
    response = invoke(event)
    assert response["statusCode"] == 200, response["body"]
    assert parse_body(response)["access_token"]


def test_admin_write_and_cors_preflight_events(
    invoke: Any, api_event: Any, parse_body: Any, admin_account: Any, redis_client: Any
) -> None:
    headers = {"Authorization": f"Bearer {admin_account.access_token}"}
    body = {"code": "373220", "name": "LG에너지솔루션", "market": "KOSPI"}
    created = invoke(api_event("POST", "/api/stocks", headers=headers, json_body=body))
    assert created["statusCode"] == 201, created["body"]
    assert parse_body(created)["code"] == "373220"
    duplicate = invoke(api_event("POST", "/api/stocks", headers=headers, json_body=body))
    assert duplicate["statusCode"] == 409
    preflight = invoke(
        api_event(
            "OPTIONS",
            "/api/stocks",
            headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
        )
    )
    assert preflight["statusCode"] == 200
    assert preflight["headers"]["access-control-allow-origin"] == "http://localhost:3000"


def test_news_search_event_falls_back_without_vectors(
    invoke: Any, api_event: Any, parse_body: Any, user_account: Any, redis_client: Any
) -> None:
    headers = {"Authorization": f"Bearer {user_account.access_token}"}
    response = invoke(api_event("GET", "/api/news/search", headers=headers, query={"q": "반도체"}))
    assert response["statusCode"] == 200, response["body"]
    assert parse_body(response)["method"] in {"vector", "fulltext"}
