"""User administration and each user's own profile, password and watchlist."""

from __future__ import annotations

from typing import Any


def test_admin_lists_and_searches_users(client: Any, admin_account: Any, make_account: Any) -> None:
    make_account("kim@example.com", full_name="김철수")
    make_account("lee@example.com", full_name="이영희")
    everyone = client.get("/api/users", headers=admin_account.headers).json()
    assert everyone["total"] == 3
    assert [user["id"] for user in everyone["items"]] == sorted(user["id"] for user in everyone["items"])
    found = client.get("/api/users", params={"q": "영희"}, headers=admin_account.headers).json()
    assert [user["email"] for user in found["items"]] == ["lee@example.com"]
    admins = client.get("/api/users", params={"role": "admin"}, headers=admin_account.headers).json()
    assert [user["email"] for user in admins["items"]] == ["admin@example.com"]
    page = client.get("/api/users", params={"limit": 1, "offset": 1}, headers=admin_account.headers).json()
    assert (page["total"], len(page["items"]), page["offset"]) == (3, 1, 1)


def test_search_treats_like_wildcards_literally(client: Any, admin_account: Any, make_account: Any) -> None:
    make_account("a_b@example.com")
    make_account("axb@example.com")
    found = client.get("/api/users", params={"q": "a_b"}, headers=admin_account.headers).json()
    assert [user["email"] for user in found["items"]] == ["a_b@example.com"]


def test_admin_creates_a_user(client: Any, admin_account: Any) -> None:
    body = {"email": "New@Example.com", "password": "Brand-New-Pass-1", "full_name": "신규", "role": "user"}
    created = client.post("/api/users", json=body, headers=admin_account.headers)
    assert created.status_code == 201
    assert created.json()["email"] == "new@example.com"
    duplicate = client.post("/api/users", json=body, headers=admin_account.headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "conflict"
    weak = client.post(
        "/api/users", json={**body, "email": "w@example.com", "password": "weak"}, headers=admin_account.headers
    )
    assert weak.status_code == 422
    assert weak.json()["error"]["code"] == "password_policy"
    bad_email = client.post("/api/users", json={**body, "email": "not-an-email"}, headers=admin_account.headers)
    assert bad_email.status_code == 422


def test_admin_changes_roles_but_never_removes_the_last_admin(
    client: Any, admin_account: Any, user_account: Any
) -> None:
    promoted = client.put(f"/api/users/{user_account.id}/role", json={"role": "admin"}, headers=admin_account.headers)
    assert promoted.json()["role"] == "admin"
    assert client.get("/api/users", headers=user_account.headers).status_code == 200  # role read fresh from the DB
    client.put(f"/api/users/{user_account.id}/role", json={"role": "user"}, headers=admin_account.headers)
    last = client.put(f"/api/users/{admin_account.id}/role", json={"role": "user"}, headers=admin_account.headers)
    assert last.status_code == 409
    assert (
        client.put(
            f"/api/users/{admin_account.id}/role", json={"role": "root"}, headers=admin_account.headers
        ).status_code
        == 422
    )


def test_deactivation_signs_the_user_out_and_activation_lets_them_back(
    client: Any, admin_account: Any, user_account: Any
) -> None:
    response = client.post(f"/api/users/{user_account.id}/deactivate", headers=admin_account.headers)
    assert response.status_code == 200 and response.json()["active"] is False
    assert client.get("/api/auth/me", headers=user_account.headers).status_code == 401
    assert client.post("/api/auth/refresh", json={"refresh_token": user_account.refresh_token}).status_code == 401
    client.post(f"/api/users/{user_account.id}/activate", headers=admin_account.headers)
    login = client.post("/api/auth/login", json={"email": user_account.email, "password": user_account.password})
    assert login.status_code == 200
    assert client.post(f"/api/users/{admin_account.id}/deactivate", headers=admin_account.headers).status_code == 409


def test_unknown_user_is_404(client: Any, admin_account: Any) -> None:
    for response in (
        client.get("/api/users/4242", headers=admin_account.headers),
        client.put("/api/users/4242/role", json={"role": "user"}, headers=admin_account.headers),
        client.post("/api/users/4242/deactivate", headers=admin_account.headers),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_user_edits_own_profile(client: Any, user_account: Any) -> None:
    response = client.patch(
        "/api/users/me",
        json={
            "full_name": "분석가",
            "telegram_chat_id": "-1001234567890",
            "min_probability": 0.8,
            "notifications_enabled": False,
        },
        headers=user_account.headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["full_name"], body["telegram_chat_id"], body["min_probability"], body["notifications_enabled"]) == (
        "분석가",
        "-1001234567890",
        0.8,
        False,
    )
    cleared = client.patch("/api/users/me", json={"telegram_chat_id": None}, headers=user_account.headers).json()
    assert cleared["telegram_chat_id"] is None and cleared["full_name"] == "분석가"


def test_profile_refuses_bad_values_and_privileged_fields(client: Any, user_account: Any) -> None:
    for body in ({"telegram_chat_id": "@someone"}, {"min_probability": 1.2}, {"role": "admin"}, {"active": False}):
        assert client.patch("/api/users/me", json=body, headers=user_account.headers).status_code == 422


def test_password_change(client: Any, user_account: Any) -> None:
    wrong = client.post(
        "/api/users/me/password",
        json={"current_password": "nope", "new_password": "Another-Pass-77"},
        headers=user_account.headers,
    )
    assert wrong.status_code == 400
    weak = client.post(
        "/api/users/me/password",
        json={"current_password": user_account.password, "new_password": "aaaaaaaaaaaa"},
        headers=user_account.headers,
    )
    assert weak.status_code == 422
    changed = client.post(
        "/api/users/me/password",
        json={"current_password": user_account.password, "new_password": "Another-Pass-77"},
        headers=user_account.headers,
    )
    assert changed.status_code == 204
    assert client.post("/api/auth/refresh", json={"refresh_token": user_account.refresh_token}).status_code == 401
    login = client.post("/api/auth/login", json={"email": user_account.email, "password": "Another-Pass-77"})
    assert login.status_code == 200


def test_watchlist(client: Any, seeded_market: Any, user_account: Any) -> None:
    headers = user_account.headers
    assert client.get("/api/users/me/watchlist", headers=headers).json() == {"items": []}
    added = client.post("/api/users/me/watchlist", json={"stock_code": "005930"}, headers=headers)
    assert added.status_code == 201
    assert added.json()["items"][0] == {
        "stock_code": "005930",
        "stock_name": "삼성전자",
        "market": "KOSPI",
        "created_at": added.json()["items"][0]["created_at"],
    }
    again = client.post("/api/users/me/watchlist", json={"stock_code": "005930"}, headers=headers)
    assert again.status_code == 200 and len(again.json()["items"]) == 1
    client.post("/api/users/me/watchlist", json={"stock_code": "000660"}, headers=headers)
    assert [item["stock_code"] for item in client.get("/api/users/me/watchlist", headers=headers).json()["items"]] == [
        "005930",
        "000660",
    ]
    assert client.delete("/api/users/me/watchlist/005930", headers=headers).status_code == 204
    assert client.delete("/api/users/me/watchlist/005930", headers=headers).status_code == 404
    assert client.post("/api/users/me/watchlist", json={"stock_code": "999999"}, headers=headers).status_code == 404
    assert client.post("/api/users/me/watchlist", json={"stock_code": "12"}, headers=headers).status_code == 422
