"""Every route × anonymous / user / admin → the status each should get.

`PUBLIC` routes answer anyone; `USER` routes want a signed-in user (401 without); `ADMIN`
routes want an admin (401 anonymous, 403 user). Each case runs on a fresh world, so an
admin's write cannot change what the next case sees. A route added to the app without a
row here fails `test_the_matrix_covers_every_route`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

PUBLIC, USER, ADMIN = "public", "user", "admin"


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    level: str
    body: Any = None
    query: Any = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


CASES = [
    Case("GET", "/health", PUBLIC),
    Case("POST", "/api/auth/login", PUBLIC, body={"email": "{user_email}", "password": "{password}"}),
    Case("POST", "/api/auth/token", PUBLIC, body="form"),
    Case("POST", "/api/auth/refresh", PUBLIC, body={"refresh_token": "{refresh_token}"}),
    Case("POST", "/api/auth/logout", PUBLIC, body={"refresh_token": "{refresh_token}"}),
    Case("GET", "/api/auth/me", USER),
    Case("GET", "/api/users/me", USER),
    Case("PATCH", "/api/users/me", USER, body={"full_name": "새 이름"}),
    Case(
        "POST",
        "/api/users/me/password",
        USER,
        body={"current_password": "{password}", "new_password": "Fresh-Pass-123"},
    ),
    Case("GET", "/api/users/me/watchlist", USER),
    Case("POST", "/api/users/me/watchlist", USER, body={"stock_code": "005930"}),
    Case("DELETE", "/api/users/me/watchlist/{watched_code}", USER),
    Case("GET", "/api/users", ADMIN),
    Case("POST", "/api/users", ADMIN, body={"email": "third@example.com", "password": "Third-Pass-123"}),
    Case("GET", "/api/users/{other_user_id}", ADMIN),
    Case("PUT", "/api/users/{other_user_id}/role", ADMIN, body={"role": "admin"}),
    Case("POST", "/api/users/{other_user_id}/activate", ADMIN),
    Case("POST", "/api/users/{other_user_id}/deactivate", ADMIN),
    Case("GET", "/api/stocks", USER),
    Case("POST", "/api/stocks", ADMIN, body={"code": "373220", "name": "LG에너지솔루션", "market": "KOSPI"}),
    Case("GET", "/api/stocks/005930", USER),
    Case("PATCH", "/api/stocks/005930", ADMIN, body={"sector": "반도체"}),
    Case("GET", "/api/stocks/005930/prices", USER),
    Case("GET", "/api/stocks/005930/news", USER),
    Case("POST", "/api/stocks/005930/activate", ADMIN),
    Case("POST", "/api/stocks/005930/deactivate", ADMIN),
    Case("POST", "/api/stocks/005930/watch", ADMIN),
    Case("POST", "/api/stocks/005930/unwatch", ADMIN),
    Case("GET", "/api/predictions", USER),
    Case("GET", "/api/predictions/latest", USER),
    Case("GET", "/api/predictions/{prediction_id}", USER),
    Case("GET", "/api/dashboard", USER),
    Case("GET", "/api/models", USER),
    Case(
        "POST",
        "/api/models",
        ADMIN,
        body={"name": "base-rate", "kind": "baseline", "provider": "base_rate", "model_id": "base_rate"},
    ),
    Case("GET", "/api/models/{model_id}", USER),
    Case("PATCH", "/api/models/{model_id}", ADMIN, body={"description": "설명"}),
    Case("POST", "/api/models/{model_id}/activate", ADMIN),
    Case("POST", "/api/models/{model_id}/deactivate", ADMIN),
    Case("GET", "/api/ab-test", USER),
    Case(
        "POST",
        "/api/ab-test",
        ADMIN,
        body={
            "name": "new-test",
            "variants": [
                {"name": "a", "model_config_id": "{model_id}"},
                {"name": "b", "model_config_id": "{other_model_id}"},
            ],
        },
    ),
    Case("GET", "/api/ab-test/{test_id}", USER),
    Case("POST", "/api/ab-test/{test_id}/start", ADMIN),
    Case("POST", "/api/ab-test/{running_test_id}/stop", ADMIN),
    Case(
        "POST",
        "/api/ab-test/{running_test_id}/winner",
        ADMIN,
        body={"variant_id": "{running_variant_id}", "force": True},
    ),
    Case("GET", "/api/news/search", USER, query={"q": "삼성전자"}),
]

EXPECTED = {
    PUBLIC: {"anonymous": "2xx", "user": "2xx", "admin": "2xx"},
    USER: {"anonymous": 401, "user": "2xx", "admin": "2xx"},
    ADMIN: {"anonymous": 401, "user": 403, "admin": "2xx"},
}


@pytest.fixture
def world(seeded_market: Any, make_account: Any, client: Any, db_session: Any) -> dict[str, Any]:
    from shared.abtest.models import AbTest, AbTestStatus, AbVariant
    from shared.users import service as user_service

    user = make_account("analyst@example.com")
    admin = make_account("admin@example.com", role="admin")
    other = make_account("other@example.com")
    user_service.add_to_watchlist(db_session=db_session, user_id=user.id, stock_code="000660")
    user_service.add_to_watchlist(db_session=db_session, user_id=admin.id, stock_code="000660")
    ids = seeded_market.ids
    third_model = seeded_market.model("third", provider="base_rate")
    fourth_model = seeded_market.model("fourth", provider="base_rate")
    draft = AbTest(name="draft-test")
    running = AbTest(name="running-test", status=AbTestStatus.RUNNING)
    db_session.add_all([draft, running])
    db_session.flush()
    db_session.add_all(
        [
            AbVariant(ab_test_id=draft.id, name="a", model_config_id=ids["momentum"]),
            AbVariant(ab_test_id=draft.id, name="b", model_config_id=ids["sentiment"]),
            AbVariant(ab_test_id=running.id, name="a", model_config_id=third_model.id),
        ]
    )
    running_variant = AbVariant(ab_test_id=running.id, name="b", model_config_id=fourth_model.id)
    db_session.add(running_variant)
    db_session.commit()
    return {
        "accounts": {"user": user, "admin": admin},
        "values": {
            "password": user.password,
            "watched_code": "000660",
            "other_user_id": other.id,
            "prediction_id": ids["evaluated"],
            "model_id": ids["momentum"],
            "other_model_id": ids["sentiment"],
            "test_id": draft.id,
            "running_test_id": running.id,
            "running_variant_id": running_variant.id,
        },
    }


def _fill(template: Any, values: dict[str, Any]) -> Any:
    if isinstance(template, str) and template.startswith("{") and template.endswith("}"):
        return values[template[1:-1]]
    if isinstance(template, str):
        return template.format(**values)
    if isinstance(template, dict):
        return {key: _fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(item, values) for item in template]
    return template


@pytest.mark.parametrize("role", ["anonymous", "user", "admin"])
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_role_matrix(client: Any, world: dict[str, Any], case: Case, role: str) -> None:
    account = world["accounts"].get(role)
    values = {**world["values"]}
    if account is not None:
        values.update(user_email=account.email, refresh_token=account.refresh_token)
    else:
        user = world["accounts"]["user"]
        values.update(user_email=user.email, refresh_token=user.refresh_token)
    headers = account.headers if account is not None else {}
    path = _fill(case.path, values)
    kwargs: dict[str, Any] = {"headers": headers, "params": case.query}
    if case.body == "form":
        kwargs["data"] = {"username": values["user_email"], "password": values["password"]}
    elif case.body is not None:
        kwargs["json"] = _fill(case.body, values)
    response = client.request(case.method, path, **kwargs)
    expected = EXPECTED[case.level][role]
    if expected == "2xx":
        assert 200 <= response.status_code < 300, f"{role} {case.id}: {response.status_code} {response.text}"
    else:
        assert response.status_code == expected, f"{role} {case.id}: {response.status_code} {response.text}"
        assert response.json()["error"]["code"] in {"unauthorized", "forbidden"}


def test_the_matrix_covers_every_route() -> None:
    from shared.api.app import create_app

    spec = create_app().openapi()
    routes = {(method.upper(), _normalize(path)) for path, operations in spec["paths"].items() for method in operations}
    assert routes == {(case.method, _normalize(case.path)) for case in CASES}


def _normalize(path: str) -> str:
    """`/api/stocks/005930`, `/api/stocks/{code}` and `/api/users/{other_user_id}` all become `.../*`."""
    return "/".join(
        "*" if part.startswith("{") or (part.isalnum() and any(ch.isdigit() for ch in part)) else part
        for part in path.split("/")
    )
