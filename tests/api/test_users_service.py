"""The users service contract others call: create (CLI create-admin), lookups, notify's opt-out."""

from __future__ import annotations

from typing import Any

import pytest

from shared.users import service as user_service
from shared.users.models import Role
from shared.users.passwords import PasswordPolicyError
from shared.users.schemas import UserCreate


def test_create_hashes_the_password_and_lowercases_the_email(db_session: Any) -> None:
    user = user_service.create(
        db_session=db_session,
        user_in=UserCreate(email="Admin@Example.COM", password="Correct-Horse-42", role=Role.ADMIN),
    )
    assert user.id is not None
    assert user.email == "admin@example.com"
    assert user.role == Role.ADMIN
    assert user.password_hash.startswith("$2b$04$")  # BCRYPT_ROUNDS=4 in tests
    assert "Correct-Horse-42" not in user.password_hash
    assert user_service.get_by_email(db_session=db_session, email="ADMIN@example.com") is not None
    assert user_service.get(db_session=db_session, user_id=user.id) is user


def test_create_refuses_a_duplicate_email(db_session: Any) -> None:
    user_service.create(db_session=db_session, user_in=UserCreate(email="a@example.com", password="Correct-Horse-42"))
    with pytest.raises(user_service.UserAlreadyExistsError, match="already exists"):
        user_service.create(db_session=db_session, user_in=UserCreate(email="A@EXAMPLE.com", password="Other-Horse-43"))


def test_create_applies_the_password_policy(db_session: Any) -> None:
    with pytest.raises(PasswordPolicyError):
        user_service.create(db_session=db_session, user_in=UserCreate(email="a@example.com", password="short"))


def test_authenticate(db_session: Any) -> None:
    user_service.create(db_session=db_session, user_in=UserCreate(email="a@example.com", password="Correct-Horse-42"))
    assert user_service.authenticate(db_session=db_session, email="A@example.com", password="Correct-Horse-42")
    assert user_service.authenticate(db_session=db_session, email="a@example.com", password="wrong") is None
    assert user_service.authenticate(db_session=db_session, email="b@example.com", password="x") is None


def test_disable_telegram_notifications_for_a_blocked_chat(db_session: Any) -> None:
    for email, chat_id in [("a@example.com", "1001"), ("b@example.com", "1001"), ("c@example.com", "2002")]:
        user = user_service.create(db_session=db_session, user_in=UserCreate(email=email, password="Correct-Horse-42"))
        user.telegram_chat_id = chat_id
    db_session.commit()
    assert user_service.disable_telegram_notifications(db_session=db_session, chat_id="1001") == 2
    assert user_service.disable_telegram_notifications(db_session=db_session, chat_id="1001") == 0
    enabled = {
        user.email: user.notifications_enabled
        for user in user_service.get_all(db_session=db_session, limit=10, offset=0)[0]
    }
    assert enabled == {"a@example.com": False, "b@example.com": False, "c@example.com": True}


def test_service_module_imports_without_bcrypt_or_jwt() -> None:
    """notify imports the users service; its image has neither bcrypt nor pyjwt."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['bcrypt'] = None; sys.modules['jwt'] = None; sys.modules['fastapi'] = None\n"
        "import shared.users.service"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
