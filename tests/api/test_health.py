"""/health: 200 when Postgres, Redis and Milvus answer; 503 naming the one that does not."""

from __future__ import annotations

from typing import Any


def test_all_up(client: Any) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    for component in ("postgres", "redis", "milvus"):
        assert body[component]["ok"] is True
        assert body[component]["version"]


def test_redis_down(client: Any, settings_env: Any) -> None:
    settings_env(REDIS_URL="redis://127.0.0.1:1/0")
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["redis"]["ok"] is False
    assert body["redis"]["error"]
    assert body["postgres"]["ok"] is True


def test_milvus_unavailable(client: Any, settings_env: Any, tmp_path: Any) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings_env(MILVUS_URI=str(blocker / "milvus.db"))
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["milvus"]["ok"] is False
    assert response.json()["redis"]["ok"] is True


def test_postgres_down(client: Any, settings_env: Any) -> None:
    settings_env(DATABASE_URL="postgresql+pg8000://postgres@127.0.0.1:1/nothing")
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["postgres"]["ok"] is False


def test_health_needs_no_auth_and_has_a_request_id(client: Any) -> None:
    response = client.get("/health", headers={"X-Request-ID": "client-chosen-id-123"})
    assert response.headers["x-request-id"] == "client-chosen-id-123"
