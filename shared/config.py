"""Every knob of StockInsight, in one pydantic-settings class.

This is the only module that reads the environment. In AWS, secrets are not put in
plain environment variables: `SECRETS_SSM_PATH` names an SSM Parameter Store path (and/or
`SECRETS_MANAGER_ID` a Secrets Manager secret holding a JSON object) whose values are
loaded through Powertools Parameters and override the environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import tzinfo
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Values that mean "someone copied the example file and forgot to set a real secret".
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev-secret-change-me"})

# Settings whose values are secrets: what SSM / Secrets Manager may provide.
SECRET_FIELDS = (
    "database_url",
    "krx_id",
    "naver_client_id",
    "milvus_token",
    "openai_api_key",
    "krx_auth_key",
    "krx_pw",
    "kis_app_key",
    "kis_app_secret",
    "naver_client_secret",
    "telegram_bot_token",
    "jwt_secret",
)


class MissingSecretError(RuntimeError):
    """A required secret is not configured; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: Literal["local", "test", "production"] = "local"
    stage: str = "dev"
    service_name: str = "stockinsight"

    # --- data stores -------------------------------------------------------
    database_url: SecretStr = SecretStr("postgresql+pg8000://postgres@127.0.0.1:5432/stockinsight")
    # An RDS Proxy endpoint: when set, it replaces the host of DATABASE_URL.
    database_host: str | None = None
    # Lambdas scale out: one tiny pool per container keeps Postgres alive (DESIGN §6).
    db_pool_size: int = Field(default=2, ge=1, le=20)
    # A pooled connection idle this long (a frozen Lambda, a proxy's idle timeout) is pinged
    # before use; one in steady use is not, saving a round trip per request.
    db_ping_after_idle_seconds: float = Field(default=10.0, ge=0)
    redis_url: str = "redis://127.0.0.1:6379/0"
    milvus_uri: str = ".local/milvus.db"
    milvus_token: SecretStr | None = None
    milvus_collection_prefix: str = "news"

    # --- upstreams ---------------------------------------------------------
    krx_source: Literal["data", "openapi"] = "data"
    krx_data_url: str = "https://data.krx.co.kr"
    krx_id: str | None = None
    krx_pw: SecretStr | None = None
    krx_openapi_url: str = "https://data-dbg.krx.co.kr"
    krx_auth_key: SecretStr | None = None
    kis_base_url: str = "https://openapi.koreainvestment.com:9443"
    kis_app_key: SecretStr | None = None
    kis_app_secret: SecretStr | None = None
    kis_requests_per_second: float = 15.0
    naver_base_url: str = "https://openapi.naver.com"
    naver_client_id: str | None = None
    naver_client_secret: SecretStr | None = None
    naver_daily_quota: int = 25_000
    news_pages_per_stock: int = 3
    news_max_stocks: int = 300  # Naver queries per run: one stock each, within the daily quota
    naver_requests_per_second: float = 10.0
    crawl_include_konex: bool = False
    embed_batch_size: int = Field(default=256, ge=1, le=2048)
    embed_max_attempts: int = 5
    embed_max_items_per_run: int = 20_000
    quote_alert_thresholds: tuple[float, ...] = (3.0, 5.0)  # intraday change, percent
    kis_token_refresh_margin_seconds: int = 600
    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    openai_chat_model: str = "gpt-4o"
    openai_embedding_model: str = "text-embedding-3-small"
    openai_embedding_dimensions: int = 1536
    local_embedding_dimensions: int = 256
    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org"
    telegram_broadcast_chat_id: str | None = None
    # Telegram's flood limits (bots FAQ): ~30 messages/s overall, ~1/s per chat.
    telegram_messages_per_second: float = Field(default=30.0, gt=0)
    telegram_chat_messages_per_second: float = Field(default=1.0, gt=0)
    # Groups and channels (the broadcast chat): Telegram's guidance is about 20 a minute.
    telegram_group_messages_per_minute: float = Field(default=20.0, gt=0)
    telegram_send_concurrency: int = Field(default=8, ge=1, le=256)
    telegram_connect_timeout_seconds: float = 5.0
    telegram_read_timeout_seconds: float = 10.0
    telegram_max_attempts: int = Field(default=5, ge=1)  # then a transiently failing message is given up
    notify_deadline_margin_ms: int = 10_000  # stop sending this long before the Lambda timeout
    http_timeout_seconds: float = 10.0
    http_max_attempts: int = 4
    http_user_agent: str = "StockInsight/0.1 (+https://github.com/stockinsight)"

    # --- AWS ---------------------------------------------------------------
    aws_region: str = "ap-northeast-2"
    aws_endpoint_url: str | None = None
    predict_queue_url: str | None = None
    notify_queue_url: str | None = None
    secrets_ssm_path: str | None = None
    secrets_manager_id: str | None = None

    # --- API ---------------------------------------------------------------
    jwt_secret: SecretStr | None = None
    jwt_algorithm: Literal["HS256"] = "HS256"
    access_token_minutes: int = 15
    refresh_token_days: int = 7
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    # Comma-separated or a JSON list: "https://a.example,https://b.example".
    cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:3000"]
    frontend_base_url: str = "http://localhost:3000"
    login_attempts_per_window: int = 5
    login_window_seconds: int = 300
    page_limit_max: int = 200
    dashboard_cache_seconds: int = 300
    # A predictions list total this large is cached (counting ~1M rows costs ~50 ms a request).
    prediction_count_cache_min_rows: int = Field(default=10_000, ge=1)
    prediction_count_cache_seconds: int = 300

    # --- market and models -------------------------------------------------
    market_timezone: str = "Asia/Seoul"
    price_history_days: int = 20
    news_top_k: int = 5
    momentum_lookback_days: int = 5
    flat_band: float = 0.002  # |return| below this counts as "flat"
    high_signal_probability: float = 0.7
    llm_daily_budget_usd: float = 20.0
    predict_batch_size: int = 10
    schedule_lock_seconds: int = 900
    # A predict batch (predict_batch_size stocks) runs in whole rounds of this many calls:
    # keep the batch size a multiple of it.
    llm_concurrency: int = Field(default=5, ge=1, le=64)
    llm_temperature: float = 0.2
    # USD per 1M tokens: [input, output]; cost per prediction = tokens × price.
    openai_prices_per_million: dict[str, list[float]] = {
        "gpt-4o": [2.50, 10.00],
        "gpt-4o-mini": [0.15, 0.60],
    }
    baseline_batch_size: int = 200
    # SQS records a predict invocation works on at once (each holds a DB connection while
    # it gathers or stores, so keep it ≤ db_pool_size); they share llm_concurrency calls.
    predict_records_in_parallel: int = Field(default=2, ge=1, le=10)
    # Evaluate re-scores its own day and catches up on unscored predictions this far back.
    evaluation_catch_up_days: int = 30
    commission_rate: float = 0.00015  # per leg
    sell_tax_rate: float = 0.0018  # securities transaction tax, sell leg

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.market_timezone)

    @property
    def llm_enabled(self) -> bool:
        return self.openai_api_key is not None and self.openai_api_key.get_secret_value() != ""

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None and self.telegram_bot_token.get_secret_value() != ""

    def require(self, name: str) -> str:
        """The value of a secret a caller cannot work without; fails fast, naming it."""
        value = getattr(self, name)
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or str(raw).strip() == "":
            raise MissingSecretError(f"{name.upper()} is not set: configure it in the environment or secrets")
        if self.environment == "production" and str(raw).strip().lower() in PLACEHOLDER_SECRETS:
            raise MissingSecretError(f"{name.upper()} still holds a placeholder value; set a real secret")
        return str(raw)


def _secrets_from_aws(settings: Settings) -> dict[str, Any]:
    """Secrets from SSM Parameter Store (a path) and Secrets Manager (a JSON secret)."""
    found: dict[str, Any] = {}
    if settings.secrets_ssm_path:
        from aws_lambda_powertools.utilities import parameters

        provider = parameters.SSMProvider(boto3_client=_boto3_client("ssm", settings))
        values = provider.get_multiple(settings.secrets_ssm_path, decrypt=True, max_age=300)
        for key, value in values.items():
            name = key.rsplit("/", 1)[-1].lower()
            if name in SECRET_FIELDS:
                found[name] = value
    if settings.secrets_manager_id:
        from aws_lambda_powertools.utilities import parameters

        provider_sm = parameters.SecretsProvider(boto3_client=_boto3_client("secretsmanager", settings))
        raw = provider_sm.get(settings.secrets_manager_id, max_age=300)
        payload: dict[str, Any] = json.loads(raw) if isinstance(raw, str | bytes) else dict(raw or {})
        for key, value in payload.items():
            if key.lower() in SECRET_FIELDS:
                found[key.lower()] = value
    return found


def _boto3_client(service: str, settings: Settings) -> Any:
    import boto3

    return boto3.client(service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings are read once per container: Lambda reuses it across invocations."""
    settings = Settings()
    secrets = _secrets_from_aws(settings)
    if secrets:
        # Init arguments outrank the environment, and pydantic types each value for its field.
        overrides: dict[str, Any] = {key: str(value) for key, value in secrets.items()}
        settings = Settings(**overrides)
    return settings


@contextmanager
def hidden_from_third_party(*names: str) -> Iterator[None]:
    """Hide variables this class owns from a library that would misread them at import.

    pymilvus parses `MILVUS_URI` when imported and rejects the file paths Milvus Lite uses;
    our Settings, not pymilvus, decides what that variable means.
    """
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
