"""The caller's auth state comes from Redis when published there, and is never staler than a change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import update


def test_deactivation_refuses_a_token_whose_state_was_cached(
    client: Any, user_account: Any, admin_account: Any
) -> None:
    assert client.get("/api/predictions", headers=user_account.headers).status_code == 200  # now cached
    response = client.post(f"/api/users/{user_account.id}/deactivate", headers=admin_account.headers)
    assert response.status_code == 200
    refused = client.get("/api/predictions", headers=user_account.headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_token"


def test_a_role_change_is_seen_by_the_next_request(client: Any, user_account: Any, admin_account: Any) -> None:
    assert client.get("/api/users", headers=user_account.headers).status_code == 403  # state now cached
    response = client.put(f"/api/users/{user_account.id}/role", json={"role": "admin"}, headers=admin_account.headers)
    assert response.status_code == 200, response.text
    assert client.get("/api/users", headers=user_account.headers).status_code == 200


def test_a_published_state_wins_over_a_stale_database_read(db_session: Any, user_account: Any) -> None:
    from shared.users import auth_state
    from shared.users.models import Role, User

    auth_state.publish(user_id=user_account.id, active=False, role=Role.USER)
    # A request that read the row before the deactivation committed tries to cache it: NX refuses.
    assert auth_state.principal_for(db_session=db_session, user_id=user_account.id) is None
    db_session.execute(update(User).where(User.id == user_account.id).values(active=True))
    db_session.commit()
    assert auth_state.principal_for(db_session=db_session, user_id=user_account.id) is None


def test_without_redis_the_state_is_read_from_postgres(
    client: Any, user_account: Any, db_session: Any, settings_env: Callable[..., Any]
) -> None:
    from shared.users.models import User

    settings_env(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens there
    assert client.get("/api/predictions", headers=user_account.headers).status_code == 200
    db_session.execute(update(User).where(User.id == user_account.id).values(active=False))
    db_session.commit()
    assert client.get("/api/predictions", headers=user_account.headers).status_code == 401
