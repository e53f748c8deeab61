"""Settings: environment parsing, fail-fast secrets, and secrets from SSM / Secrets Manager (moto)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared.config import MissingSecretError, Settings, get_settings


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with mock_aws():
        yield
    get_settings.cache_clear()


def test_missing_required_secret_fails_fast_and_names_it(settings_env: Callable[..., Any]) -> None:
    settings = settings_env(JWT_SECRET="")
    with pytest.raises(MissingSecretError, match="JWT_SECRET is not set"):
        settings.require("jwt_secret")
    with pytest.raises(MissingSecretError, match="OPENAI_API_KEY"):
        settings.require("openai_api_key")


def test_placeholder_secret_is_refused_in_production(settings_env: Callable[..., Any]) -> None:
    settings = settings_env(ENVIRONMENT="production", JWT_SECRET="changeme")
    with pytest.raises(MissingSecretError, match="placeholder"):
        settings.require("jwt_secret")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://a.example,https://b.example", ["https://a.example", "https://b.example"]),
        ('["https://a.example"]', ["https://a.example"]),
        ("", []),
    ],
)
def test_cors_origins_accept_commas_or_json(raw: str, expected: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", raw)
    assert Settings().cors_origins == expected


def test_secrets_come_from_ssm_parameter_store(
    aws: None, settings_env: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ssm = boto3.client("ssm", region_name="ap-northeast-2")
    ssm.put_parameter(Name="/stockinsight/test/JWT_SECRET", Value="from-ssm-secret", Type="SecureString")
    ssm.put_parameter(Name="/stockinsight/test/KRX_ID", Value="member-1", Type="String")
    ssm.put_parameter(Name="/stockinsight/test/UNRELATED", Value="ignored", Type="String")
    settings = settings_env(SECRETS_SSM_PATH="/stockinsight/test/", JWT_SECRET="from-env")
    assert settings.require("jwt_secret") == "from-ssm-secret"
    assert settings.krx_id == "member-1"
    assert "from-ssm-secret" not in repr(settings)  # secrets stay masked


def test_secrets_come_from_secrets_manager(aws: None, settings_env: Callable[..., Any]) -> None:
    client = boto3.client("secretsmanager", region_name="ap-northeast-2")
    client.create_secret(
        Name="stockinsight/test",
        SecretString=json.dumps({"OPENAI_API_KEY": "sk-from-sm", "TELEGRAM_BOT_TOKEN": "1:abc"}),
    )
    settings = settings_env(SECRETS_MANAGER_ID="stockinsight/test")
    assert settings.require("openai_api_key") == "sk-from-sm"
    assert settings.llm_enabled and settings.telegram_enabled


def test_database_host_override_points_the_engine_at_a_proxy(settings_env: Callable[..., Any]) -> None:
    from shared.db.session import get_engine

    settings_env(DATABASE_HOST="proxy.internal.example")
    assert get_engine().url.host == "proxy.internal.example"
