"""Sign-in, refresh rotation, logout, /me, throttling and the password policy."""

from __future__ import annotations

from typing import Any

import pytest

from shared.users.passwords import PasswordPolicyError, check_password_policy

PASSWORD = "Correct-Horse-42"


def test_login_returns_a_token_pair_that_opens_me(client: Any, user_account: Any) -> None:
    response = client.post("/api/auth/login", json={"email": "Analyst@Example.com ", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert body["refresh_expires_in"] == 7 * 24 * 3600
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "analyst@example.com"
    assert "password_hash" not in me.json()


def test_oauth2_password_form_signs_in(client: Any, user_account: Any) -> None:
    response = client.post(
        "/api/auth/token",
        data={"grant_type": "password", "username": "analyst@example.com", "password": PASSWORD},
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


def test_oauth2_form_refuses_other_grant_types(client: Any, user_account: Any) -> None:
    response = client.post("/api/auth/token", data={"grant_type": "client_credentials", "username": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_grant_type"


def test_unknown_email_and_wrong_password_look_the_same(client: Any, user_account: Any) -> None:
    wrong = client.post("/api/auth/login", json={"email": "analyst@example.com", "password": "Wrong-Pass-99"})
    unknown = client.post("/api/auth/login", json={"email": "nobody@example.com", "password": "Wrong-Pass-99"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"


def test_unknown_email_still_checks_a_hash(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import bcrypt

    calls: list[int] = []
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        calls.append(1)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting_checkpw)
    client.post("/api/auth/login", json={"email": "nobody@example.com", "password": "Wrong-Pass-99"})
    assert calls == [1]


def test_deactivated_user_cannot_sign_in(client: Any, make_account: Any) -> None:
    make_account("gone@example.com", active=False)
    response = client.post("/api/auth/login", json={"email": "gone@example.com", "password": PASSWORD})
    assert response.status_code == 401


def test_password_over_72_bytes_never_matches(client: Any, user_account: Any) -> None:
    # bcrypt would compare only the first 72 bytes; a longer password is never accepted.
    response = client.post("/api/auth/login", json={"email": "analyst@example.com", "password": PASSWORD + "x" * 80})
    assert response.status_code == 401


def test_refresh_rotates_and_the_old_token_is_refused(client: Any, user_account: Any) -> None:
    first = client.post("/api/auth/refresh", json={"refresh_token": user_account.refresh_token})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != user_account.refresh_token
    reused = client.post("/api/auth/refresh", json={"refresh_token": user_account.refresh_token})
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "invalid_token"
    # Reuse means theft: the rotated token is revoked too, and the user must sign in again.
    after_theft = client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after_theft.status_code == 401


def test_logout_revokes_the_refresh_token(client: Any, user_account: Any) -> None:
    assert client.post("/api/auth/logout", json={"refresh_token": user_account.refresh_token}).status_code == 204
    assert client.post("/api/auth/logout", json={"refresh_token": user_account.refresh_token}).status_code == 204
    refused = client.post("/api/auth/refresh", json={"refresh_token": user_account.refresh_token})
    assert refused.status_code == 401


def test_logout_refuses_a_forged_token(client: Any) -> None:
    response = client.post("/api/auth/logout", json={"refresh_token": "not-a-jwt"})
    assert response.status_code == 401


def test_me_requires_a_token(client: Any) -> None:
    response = client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


def test_login_is_throttled_per_account(client: Any, user_account: Any, settings_env: Any) -> None:
    settings_env(LOGIN_ATTEMPTS_PER_WINDOW="3", LOGIN_WINDOW_SECONDS="60")
    for _ in range(3):
        response = client.post("/api/auth/login", json={"email": "analyst@example.com", "password": "Wrong-Pass-99"})
        assert response.status_code == 401
    blocked = client.post("/api/auth/login", json={"email": "analyst@example.com", "password": PASSWORD})
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    assert blocked.json()["error"]["code"] == "rate_limited"


def test_login_is_throttled_per_client_ip(client: Any, user_account: Any, settings_env: Any) -> None:
    from shared.users.login_throttle import IP_LIMIT_FACTOR

    settings_env(LOGIN_ATTEMPTS_PER_WINDOW="3", LOGIN_WINDOW_SECONDS="60")
    for index in range(3 * IP_LIMIT_FACTOR):
        response = client.post("/api/auth/login", json={"email": f"guess{index}@example.com", "password": "Wrong-1234"})
        assert response.status_code == 401
    blocked = client.post("/api/auth/login", json={"email": "analyst@example.com", "password": PASSWORD})
    assert blocked.status_code == 429


def test_successful_login_resets_the_account_counter(client: Any, user_account: Any, settings_env: Any) -> None:
    settings_env(LOGIN_ATTEMPTS_PER_WINDOW="3", LOGIN_WINDOW_SECONDS="60")
    for _ in range(2):
        client.post("/api/auth/login", json={"email": "analyst@example.com", "password": "Wrong-Pass-99"})
    assert (
        client.post("/api/auth/login", json={"email": "analyst@example.com", "password": PASSWORD}).status_code == 200
    )
    for _ in range(2):
        client.post("/api/auth/login", json={"email": "analyst@example.com", "password": "Wrong-Pass-99"})
    assert (
        client.post("/api/auth/login", json={"email": "analyst@example.com", "password": PASSWORD}).status_code == 200
    )


def test_login_works_when_redis_is_down(client: Any, user_account: Any, settings_env: Any) -> None:
    settings_env(REDIS_URL="redis://127.0.0.1:1/0")
    response = client.post("/api/auth/login", json={"email": "analyst@example.com", "password": PASSWORD})
    assert response.status_code == 200


def test_login_validation_errors_do_not_echo_the_password(client: Any) -> None:
    response = client.post("/api/auth/login", json={"email": "a@example.com"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    response = client.post("/api/auth/login", json={"email": "a@example.com", "password": 12345678901})
    assert "12345678901" not in response.text


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Short-1", "at least 10"),
        ("abcdefghijkl", "two kinds"),
        ("1234567890123", "two kinds"),
        ("aA" * 6, "distinct"),
        ("Aa1-" + "가" * 30, "72 bytes"),
    ],
)
def test_password_policy_refuses(password: str, rule: str) -> None:
    with pytest.raises(PasswordPolicyError, match=rule):
        check_password_policy(password)


@pytest.mark.parametrize(
    "password", ["Correct-Horse-42", "correct horse battery", "비밀번호는길어야123", "x" * 8 + "Y1Z2"]
)
def test_password_policy_accepts(password: str) -> None:
    check_password_policy(password)


def test_expired_refresh_rows_are_purged_on_sign_in(client: Any, user_account: Any, db_session: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from shared.users.models import RefreshToken

    db_session.add(
        RefreshToken(jti="old-one", user_id=user_account.id, expires_at=datetime.now(UTC) - timedelta(days=1))
    )
    db_session.commit()
    assert client.post("/api/auth/login", json={"email": user_account.email, "password": PASSWORD}).status_code == 200
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).select_from(RefreshToken).where(RefreshToken.jti == "old-one")) == 0
    assert db_session.scalar(select(func.count()).select_from(RefreshToken)) == 2
