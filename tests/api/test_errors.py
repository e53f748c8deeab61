"""One error format everywhere, a request id on every response, CORS from settings."""

from __future__ import annotations

import uuid
from typing import Any


def _assert_error_shape(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_unknown_route(client: Any) -> None:
    _assert_error_shape(client.get("/api/nothing-here"), 404, "not_found")


def test_wrong_method(client: Any) -> None:
    _assert_error_shape(client.delete("/health"), 405, "method_not_allowed")


def test_malformed_json(client: Any) -> None:
    response = client.post("/api/auth/login", content=b"{not json", headers={"Content-Type": "application/json"})
    _assert_error_shape(response, 422, "validation_error")
    assert response.json()["error"]["details"][0]["loc"]


def test_wrong_body_type(client: Any) -> None:
    _assert_error_shape(client.post("/api/auth/login", json=[1, 2, 3]), 422, "validation_error")


def test_unsupported_form_content_type(client: Any) -> None:
    response = client.post("/api/auth/token", content=b"<xml/>", headers={"Content-Type": "application/xml"})
    _assert_error_shape(response, 415, "unsupported_media_type")


def test_nul_bytes_do_not_reach_a_500(client: Any, database: str) -> None:
    response = client.post("/api/auth/login", json={"email": "a\u0000@example.com", "password": "x\u0000y"})
    assert response.status_code in (400, 401, 422)


def test_request_id_is_generated(client: Any) -> None:
    response = client.get("/api/nothing-here")
    assert uuid.UUID(response.headers["x-request-id"])


def test_malformed_incoming_request_id_is_replaced(client: Any) -> None:
    response = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"


def test_cors_preflight_from_an_allowed_origin(client: Any) -> None:
    response = client.options(
        "/api/predictions",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "x-request-id" in response.headers


def test_cors_refuses_other_origins(client: Any) -> None:
    response = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_origins_come_from_settings(settings_env: Any, database: str) -> None:
    from fastapi.testclient import TestClient

    from shared.api.app import create_app

    settings_env(CORS_ORIGINS="https://app.stockinsight.kr,https://admin.stockinsight.kr")
    with TestClient(create_app()) as client:
        response = client.get("/api/nothing", headers={"Origin": "https://admin.stockinsight.kr"})
    assert response.headers["access-control-allow-origin"] == "https://admin.stockinsight.kr"


def test_openapi_documents_every_route_with_a_response_model_and_bearer_auth(client: Any) -> None:
    spec = client.get("/api/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/auth/token"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            success = [code for code in operation["responses"] if code.startswith("2")]
            assert success, f"{method} {path} documents no success response"
            for code in success:
                if code == "204":
                    continue
                content = operation["responses"][code].get("content", {})
                schema = content.get("application/json", {}).get("schema", {})
                assert schema and schema != {}, f"{method} {path} has no response model"


def test_error_responses_are_documented_once_by_reference(client: Any) -> None:
    spec = client.get("/api/openapi.json").json()
    assert spec["components"]["schemas"]["ErrorResponse"]["properties"]["error"]
    not_found = spec["paths"]["/api/predictions/{prediction_id}"]["get"]["responses"]["404"]
    assert not_found["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}


def test_read_only_requests_leave_pooled_connections_transactional(client: Any, user_account: Any) -> None:
    """GETs run without BEGIN/COMMIT (driver autocommit) and hand the connection back as they got it."""
    from shared.db.session import get_engine

    assert client.get("/api/auth/me", headers=user_account.headers).status_code == 200
    assert client.get("/api/stocks/ZZZZZZ", headers=user_account.headers).status_code == 404
    engine = get_engine()
    with engine.connect() as first, engine.connect() as second:  # the whole pool (size 2)
        for connection in (first, second):
            dbapi_connection = connection.connection.dbapi_connection
            assert dbapi_connection is not None
            assert dbapi_connection.autocommit is False


def test_a_request_without_a_token_never_checks_out_a_connection(client: Any) -> None:
    from sqlalchemy import event

    from shared.db.session import get_engine

    checkouts: list[object] = []

    def count(*args: Any) -> None:
        checkouts.append(args)

    engine = get_engine()
    event.listen(engine, "checkout", count)
    try:
        assert client.get("/api/predictions").status_code == 401
    finally:
        event.remove(engine, "checkout", count)
    assert checkouts == []


def test_every_mapped_domain_error_names_an_exception_class() -> None:
    import importlib

    from shared.api.errors import DOMAIN_ERRORS

    for path, (status_code, code) in DOMAIN_ERRORS.items():
        module_name, _, class_name = path.rpartition(".")
        error_type = getattr(importlib.import_module(module_name), class_name)
        assert issubclass(error_type, Exception), path
        assert 400 <= status_code < 500 and code, path


def test_an_unknown_path_is_a_json_404_without_loading_any_router(client: Any) -> None:
    response = client.get("/api/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    documentation = {"/api/openapi.json", "/api/docs", "/api/docs/oauth2-redirect"}
    assert [route.path for route in client.app.routes if route.path not in documentation] == []
