"""Forged, expired, mistyped and revoked tokens are all refused with 401."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.config import get_settings


def _claims(account: Any, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": str(account.id), "role": account.role, "type": "access", "iat": now, "exp": now + 600, "jti": "x1"}
    claims.update(overrides)
    return claims


def _secret() -> str:
    return get_settings().require("jwt_secret")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _me(client: Any, token: str) -> Any:
    return client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_a_valid_token_is_accepted(client: Any, user_account: Any) -> None:
    token = jwt.encode(_claims(user_account), _secret(), algorithm="HS256")
    assert _me(client, token).status_code == 200


def test_expired_token(client: Any, user_account: Any) -> None:
    token = jwt.encode(
        _claims(user_account, iat=int(time.time()) - 3600, exp=int(time.time()) - 60), _secret(), "HS256"
    )
    response = _me(client, token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_bad_signature(client: Any, user_account: Any) -> None:
    assert (
        _me(client, jwt.encode(_claims(user_account), "another-secret-entirely-32-bytes!", "HS256")).status_code == 401
    )


def test_tampered_payload(client: Any, user_account: Any) -> None:
    header, _, signature = jwt.encode(_claims(user_account), _secret(), "HS256").split(".")
    forged = f"{header}.{_b64(_claims(user_account, role='admin', sub='999'))}.{signature}"
    assert _me(client, forged).status_code == 401


def test_alg_none(client: Any, user_account: Any) -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user_account))}."
    assert _me(client, token).status_code == 401


def test_hs512_with_the_right_secret(client: Any, user_account: Any) -> None:
    assert _me(client, jwt.encode(_claims(user_account), _secret(), "HS512")).status_code == 401


def test_rs256(client: Any, user_account: Any) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert _me(client, jwt.encode(_claims(user_account), pem, "RS256")).status_code == 401


def test_rs256_header_signed_with_the_secret_as_hmac(client: Any, user_account: Any) -> None:
    """Algorithm confusion: claim RS256 in the header but sign with HMAC over the shared secret."""
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{_b64(_claims(user_account))}"
    signature = hmac.new(_secret().encode(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    assert _me(client, token).status_code == 401


def test_refresh_token_used_as_access(client: Any, user_account: Any) -> None:
    assert _me(client, user_account.refresh_token).status_code == 401


def test_access_token_used_as_refresh(client: Any, user_account: Any) -> None:
    response = client.post("/api/auth/refresh", json={"refresh_token": user_account.access_token})
    assert response.status_code == 401


@pytest.mark.parametrize("missing", ["sub", "exp", "type", "jti", "iat", "role"])
def test_missing_claim(client: Any, user_account: Any, missing: str) -> None:
    claims = _claims(user_account)
    del claims[missing]
    assert _me(client, jwt.encode(claims, _secret(), "HS256")).status_code == 401


def test_non_numeric_subject(client: Any, user_account: Any) -> None:
    assert _me(client, jwt.encode(_claims(user_account, sub="admin"), _secret(), "HS256")).status_code == 401


def test_token_of_a_deactivated_user(client: Any, user_account: Any, db_session: Any) -> None:
    from shared.users import service as user_service

    user = user_service.get(db_session=db_session, user_id=user_account.id)
    assert user is not None
    user_service.set_active(db_session=db_session, user=user, active=False)
    assert _me(client, user_account.access_token).status_code == 401
    refreshed = client.post("/api/auth/refresh", json={"refresh_token": user_account.refresh_token})
    assert refreshed.status_code == 401


def test_token_of_a_deleted_user(client: Any, user_account: Any, db_session: Any) -> None:
    from sqlalchemy import delete

    from shared.users.models import User

    db_session.execute(delete(User).where(User.id == user_account.id))
    db_session.commit()
    assert _me(client, user_account.access_token).status_code == 401


def test_reused_refresh_token(client: Any, user_account: Any) -> None:
    assert client.post("/api/auth/refresh", json={"refresh_token": user_account.refresh_token}).status_code == 200
    assert client.post("/api/auth/refresh", json={"refresh_token": user_account.refresh_token}).status_code == 401


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a.b.c"])
def test_malformed_authorization_headers(client: Any, header: str) -> None:
    assert client.get("/api/auth/me", headers={"Authorization": header}).status_code == 401
