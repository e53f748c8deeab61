"""The environment that points every client at local stand-ins: the sandbox and moto.

`stockinsight sandbox` prints it for another shell; `stockinsight demo` applies it to its
own process (the functions run in-process) and then drops every cached client, so the
next call builds one from the new settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from runner.events import LOCAL_REGION
from shared.container_state import reset_cached_clients

# The sandbox accepts exactly these credentials, as the real upstreams accept only yours.
KRX_MEMBER = ("demo", "demo-pw")
KRX_AUTH_KEY = "sandbox-krx-key"
KIS_APP = ("sandbox-app-key", "sandbox-app-secret")
NAVER_CLIENT = ("sandbox-naver-id", "sandbox-naver-secret")
OPENAI_API_KEY = "sk-sandbox"
TELEGRAM_TOKEN = "123456:sandbox-token"
TELEGRAM_BROADCAST_CHAT_ID = "-1001000000001"


def start_sandbox(
    *, host: str = "127.0.0.1", port: int = 0, universe: Literal["default", "full"] = "default", seed: int = 42
) -> Any:
    """The upstream sandbox (KRX, KIS, Naver, OpenAI, Telegram wire formats), started."""
    from sandbox.server import SandboxServer

    server = SandboxServer(
        host=host,
        port=port,
        universe=universe,
        seed=seed,
        krx_member=KRX_MEMBER,
        krx_auth_key=KRX_AUTH_KEY,
        kis_app=KIS_APP,
        naver_client=NAVER_CLIENT,
        openai_api_key=OPENAI_API_KEY,
        telegram_token=TELEGRAM_TOKEN,
    )
    return server.start()


def sandbox_environment(sandbox: Any) -> dict[str, str]:
    """The sandbox's own settings map (KRX, KIS, Naver, OpenAI, Telegram) plus a broadcast chat."""
    environment: dict[str, str] = dict(sandbox.env())
    environment.setdefault("OPENAI_BASE_URL", f"{sandbox.base_url}/v1")
    environment["TELEGRAM_BROADCAST_CHAT_ID"] = TELEGRAM_BROADCAST_CHAT_ID
    return environment


def aws_environment(endpoint_url: str, queue_urls: Mapping[str, str], *, region: str = LOCAL_REGION) -> dict[str, str]:
    """boto3 pointed at moto, with dummy credentials so nothing can reach a real account."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        **queue_urls,
    }


def apply_environment(values: Mapping[str, str]) -> None:
    os.environ.update(values)
    # Settings that the session's AWS secrets path would override must not apply locally.
    for name in ("SECRETS_SSM_PATH", "SECRETS_MANAGER_ID"):
        os.environ.pop(name, None)
    reset_cached_clients()


def shell_exports(values: Mapping[str, str]) -> str:
    import shlex

    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in values.items())
