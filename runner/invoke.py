"""Loading a function's handler from its folder and calling it as the Lambda runtime would.

Each `functions/<name>/handler.py` is imported by file path under a module name of its
own, so five modules all called `handler` live side by side in one process. The event is
passed through JSON (the runtime serializes it too) and so is the result: a handler that
returns something Lambda could not serialize fails here as it would in AWS.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.events import LOCAL_ACCOUNT_ID, LOCAL_REGION
from runner.template import FunctionSpec

Handler = Callable[[Any, Any], Any]

# Template variables that describe a deployment (production mode, SSM secrets path); the
# local run keeps its own values for these.
DEPLOYMENT_ONLY_VARIABLES = frozenset(
    {"ENVIRONMENT", "STAGE", "SECRETS_SSM_PATH", "SECRETS_MANAGER_ID", "DATABASE_HOST"}
)


class HandlerLoadError(RuntimeError):
    """The handler file or attribute named by template.yaml is missing or fails to import."""


@dataclass(slots=True)
class LambdaContext:
    """The runtime's context object: what Powertools and Mangum read from it."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_seconds: float
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_context(
    function: FunctionSpec, *, request_id: str | None = None, stack_name: str = "stockinsight-local"
) -> LambdaContext:
    deployed_name = f"{stack_name}-{function.name}"
    today = datetime.now(UTC)
    return LambdaContext(
        function_name=deployed_name,
        memory_limit_in_mb=function.memory_mb,
        invoked_function_arn=f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{deployed_name}",
        aws_request_id=request_id or str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{deployed_name}",
        log_stream_name=f"{today:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}",
        timeout_seconds=function.timeout_seconds,
    )


_handlers: dict[Path, Handler] = {}
_handlers_lock = threading.Lock()


def _module_name(function: FunctionSpec) -> str:
    digest = hashlib.sha1(str(function.handler_file).encode(), usedforsecurity=False).hexdigest()[:8]
    return f"stockinsight_local_{function.name}_{digest}"


def load_handler(function: FunctionSpec) -> Handler:
    """The function's `lambda_handler`, imported once (a warm container reuses its module)."""
    path = function.handler_file
    with _handlers_lock:
        cached = _handlers.get(path)
        if cached is not None:
            return cached
        if not path.is_file():
            raise HandlerLoadError(f"{function.logical_id}: handler file {path} does not exist")
        module_name = _module_name(function)
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise HandlerLoadError(f"{function.logical_id}: cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            with function_environment(function):
                spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(module_name, None)
            raise HandlerLoadError(f"{function.logical_id}: importing {path} failed: {exc!r}") from exc
        handler: Handler | None = getattr(module, function.handler_attribute, None)
        if handler is None or not callable(handler):
            sys.modules.pop(module_name, None)
            raise HandlerLoadError(f"{function.logical_id}: {path} has no callable {function.handler_attribute!r}")
        _handlers[path] = handler
        return handler


def forget_handlers() -> None:
    """Drop loaded handler modules (tests that load fixture handlers more than once)."""
    with _handlers_lock:
        _handlers.clear()
        for name in [name for name in sys.modules if name.startswith("stockinsight_local_")]:
            sys.modules.pop(name, None)


def local_environment(function: FunctionSpec) -> dict[str, str]:
    """The template's literal variables that apply locally (deployment-only ones dropped)."""
    return {key: value for key, value in function.environment.items() if key not in DEPLOYMENT_ONLY_VARIABLES}


@contextmanager
def function_environment(function: FunctionSpec, overrides: Mapping[str, str] | None = None) -> Iterator[None]:
    """The function's template variables while it runs; values already set locally win.

    One process hosts every function, so the variables are put back afterwards. Not for
    concurrent use from several threads (the gateway applies it once around its server).
    """
    wanted = {key: value for key, value in local_environment(function).items() if key not in os.environ}
    wanted.update(overrides or {})
    previous = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _through_json(value: Any, *, what: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not JSON-serializable: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Invocation:
    function: str
    request_id: str
    result: Any
    duration_ms: float


def invoke(
    function: FunctionSpec,
    event: Any,
    *,
    context: LambdaContext | None = None,
    apply_environment: bool = True,
) -> Invocation:
    """Call the function's handler with `event`; its exceptions propagate (the caller decides)."""
    handler = load_handler(function)
    payload = _through_json(event, what="the event")
    runtime_context = context or lambda_context(function)
    started = time.perf_counter()
    if apply_environment:
        with function_environment(function):
            result = handler(payload, runtime_context)
    else:
        result = handler(payload, runtime_context)
    duration_ms = (time.perf_counter() - started) * 1000
    return Invocation(
        function=function.name,
        request_id=runtime_context.aws_request_id,
        result=_through_json(result, what=f"{function.name}'s response"),
        duration_ms=duration_ms,
    )


def error_response(exc: BaseException) -> dict[str, Any]:
    """The runtime's report of an unhandled error, as `sam local invoke` prints it."""
    import traceback

    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_exception(exc)[-6:],
    }
