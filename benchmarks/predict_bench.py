"""Predict fan-out throughput: 2,500 stocks through the LLM model against a slow OpenAI endpoint.

What is measured: the consumer side of the predict fan-out as production runs it.
`plan_work` turns the day into `PredictWork` batches (PREDICT_BATCH_SIZE stocks each, LLM
only: the baselines are deactivated), grouped into SQS events of up to 10 records (the
queue's BatchSize), and `--invocations` workers, each standing for one concurrently running
predict Lambda (the SQS MaximumConcurrency in template.yaml), take the events one at a time
and run them through `consume_predict_batch`, as the event source mapping would; inside an
invocation, records run PREDICT_RECORDS_IN_PARALLEL at a time over one pool of
LLM_CONCURRENCY model calls. The OpenAI endpoint is the sandbox, whose chat completions
answer normally after a fixed `--delay` (a status-less delay fault); embeddings are not
delayed.

    achieved concurrency = chat calls × delay / wall time
    ideal concurrency    = invocations × LLM_CONCURRENCY
    target: achieved / ideal ≥ 0.9

Each invocation is a process of its own (spawned, with its own interpreter, GIL, OpenAI
client, DB pool of DB_POOL_SIZE and Redis client), because each concurrently running Lambda
is one. Before the clock starts every worker runs one SQS event for the day before through
the consumer (imports, clients, pools), as a warm container has. `--threads` runs the
invocations as threads of this process instead (one GIL and one DB pool of 2 × invocations
for all of them), as this benchmark did before; on the 2-core box that measures a little
lower, each Lambda's Python waiting for the others'. The other services run as they would
beside Lambda: the sandbox in a child process (its own GIL, as a remote endpoint;
`--sandbox-in-process` puts it on a thread here), Milvus Lite as one server (a gRPC server
on threads of this process, which is idle while the workers run) that every worker reaches
by URL, PostgreSQL and Redis as they are. Everything shares the machine's cores, with
whatever else runs on them.

The run also prints calls/s, predictions stored, the bound that batching alone puts on the
ratio (n calls on c threads need ceil(n / c) rounds, so ≤ n / (c · ceil(n / c)) of the
ideal, where n is an invocation's calls, an SQS event's records sharing one pool, or a
batch's with `--path batch`), the ratio as a product of two parts (the delay over a call's
mean latency, and the share of the call threads' time spent in a call) with the time an
invocation keeps its call threads idle, then where the invocations' time goes (before the
model calls, the model calls, storing after them) and the share of that spent in SQL.

    python benchmarks/predict_bench.py [--stocks 2500 --delay 0.2 --invocations 5 --llm-concurrency 5]

The database (stockinsight_bench_predict_<pid>), the leased Redis DB, the Milvus Lite data
and the sandbox are cleaned up at the end, also on failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_URL = "postgresql+pg8000://postgres@127.0.0.1:5432/postgres"
REDIS_BASE = "redis://127.0.0.1:6379"
CHAT_PATH = "/v1/chat/completions"
HISTORY_DAYS = 25  # trading days of closes per stock, up to the as-of day
TARGET = 0.9


# --- the sandbox, in a child process or on a thread ---------------------------------------


class Sandbox:
    """The OpenAI-compatible endpoint: delay its chat completions, count the calls it served."""

    def __init__(self, *, in_process: bool) -> None:
        self._server: Any = None
        self._process: subprocess.Popen[str] | None = None
        if in_process:
            from sandbox.server import SandboxServer

            self._server = SandboxServer().start()
            self.base_url: str = self._server.base_url
            self.env: dict[str, str] = self._server.env()
        else:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "sandbox", "--port", "0", "--print-env"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                self.base_url, self.env = self._read_settings(self._process)
            except BaseException:
                self.stop()
                raise

    @staticmethod
    def _read_settings(process: subprocess.Popen[str]) -> tuple[str, dict[str, str]]:
        """The base URL, then --print-env's KEY=VALUE lines."""
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise RuntimeError(f"the sandbox did not start: {base_url!r}")
        env: dict[str, str] = {}
        while not {"OPENAI_API_KEY", "OPENAI_BASE_URL"} <= env.keys():
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("the sandbox exited before printing its settings")
            key, _, value = line.strip().partition("=")
            env[key] = value
        return base_url, env

    def _control(self, method: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - a local http URL
            f"{self.base_url}/_sandbox/{action}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            payload: dict[str, Any] = json.loads(response.read())
        return payload

    def reset(self) -> None:
        """Forget faults and the request log."""
        if self._server is not None:
            self._server.reset()
        else:
            self._control("POST", "reset", {})

    def delay_chat(self, delay: float) -> None:
        """Every chat completion answers normally, `delay` seconds late (status None + delay)."""
        if self._server is not None:
            self._server.inject_fault(CHAT_PATH, delay=delay, times=10**6)
        else:
            self._control("POST", "faults", {"path_prefix": CHAT_PATH, "delay": delay, "times": 10**6})

    def requests(self) -> Counter[str]:
        served = self._server.requests if self._server is not None else self._control("GET", "requests")["requests"]
        return Counter(path for _, path in served)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def start_milvus(data: str) -> str:
    """A Milvus Lite server on threads of this process; every invocation reaches it by URL."""
    from milvus_lite.server_manager import server_manager_instance  # type: ignore[import-untyped]

    uri = server_manager_instance.start_and_get_uri(data)
    if uri is None:
        raise RuntimeError("Milvus Lite did not start")
    return str(uri)


def stop_milvus(data: str) -> None:
    from milvus_lite.server_manager import server_manager_instance  # type: ignore[import-untyped]

    server_manager_instance.release_server(data)


# --- the data set ---------------------------------------------------------------------


def lease_redis_db() -> tuple[int, str]:
    """A Redis DB number of our own, leased as the tests do (a key in DB 0)."""
    import redis

    client = redis.Redis.from_url(f"{REDIS_BASE}/0")
    token = f"predict-bench-{os.getpid()}"
    for number in range(15, 0, -1):
        if client.set(f"stockinsight:test-db-lease:{number}", token, nx=True, ex=3600):
            return number, token
    raise RuntimeError("no free Redis DB number (1..15 all leased)")


def release_redis_db(number: int, token: str) -> None:
    import redis

    redis.Redis.from_url(f"{REDIS_BASE}/{number}").flushdb()
    lease_client = redis.Redis.from_url(f"{REDIS_BASE}/0")
    key = f"stockinsight:test-db-lease:{number}"
    if lease_client.get(key) == token.encode():
        lease_client.delete(key)


def pg_connect(url: str) -> Any:
    import pg8000.dbapi
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return pg8000.dbapi.connect(
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database=parsed.database,
    )


def load(url: str, *, stocks: int, days: list[date]) -> None:
    """Stocks with 6-character codes and `len(days)` closes each, generated in SQL."""
    connection = pg_connect(url)
    try:
        cursor = connection.cursor()
        cursor.execute(
            """
            INSERT INTO stocks (code, name, market, sector, active, watched)
            SELECT lpad(g::text, 6, '0'), '종목' || lpad(g::text, 6, '0'),
                   CASE WHEN g %% 3 = 0 THEN 'KOSDAQ' ELSE 'KOSPI' END, '전기전자', true, false
            FROM generate_series(1, %s) AS g
            """,
            (stocks,),
        )
        # A deterministic zig-zag around a per-stock level: every close > 0, returns of a few %.
        cursor.execute(
            """
            INSERT INTO daily_prices (code, date, open, high, low, close, volume, value, change, change_rate)
            SELECT code, day, close, close, close, close, volume, close * volume, 0, 0
            FROM (
                SELECT s.code, d.day,
                       (1000 + (s.code::int * 7919) %% 90000)
                         * (1000 + ((s.code::int * 31 + d.i * 17) %% 61) - 30) / 1000 AS close,
                       10000 + (s.code::int * d.i) %% 100000 AS volume
                FROM stocks s CROSS JOIN unnest(CAST(%s AS date[])) WITH ORDINALITY AS d(day, i)
            ) AS bars
            """,
            ([day.isoformat() for day in days],),
        )
        connection.commit()
        connection.autocommit = True
        cursor.execute("VACUUM ANALYZE")
    finally:
        connection.close()


# --- instrumentation ------------------------------------------------------------------------


class Timers:
    """Seconds and calls per label, summed over every thread."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, label: str, seconds: float) -> None:
        with self._lock:
            self.seconds[label] += seconds
            self.calls[label] += 1

    def mean_ms(self, label: str) -> float:
        return self.seconds[label] / max(1, self.calls[label]) * 1000


class CountingHandler(logging.Handler):
    """Counts the warnings the code under test logs (instead of printing 250 of them)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages[f"{record.levelname} {record.name}: {record.getMessage()[:120]}"] += 1


def instrument(timers: Timers) -> Callable[[], None]:
    """Time SQL statements and the steps of a batch by wrapping them in place; returns the undo."""
    from sqlalchemy import event

    from shared.db.session import get_engine
    from shared.llm import embeddings, predictor
    from shared.predictions import inputs, workflow
    from shared.predictions import service as prediction_service
    from shared.stores import milvus

    local = threading.local()

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        local.started = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        timers.add("sql statement", time.perf_counter() - local.started)

    wrapped: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, attribute: str, label: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timers.add(label, time.perf_counter() - started)

        wrapped.append((owner, attribute, original))
        setattr(owner, attribute, timed)

    wrap(workflow, "consume_predict_batch", "invocation")
    wrap(workflow, "predict_batch", "batch")
    wrap(workflow, "_run_predictors", "model calls of a batch")
    wrap(predictor.LLMPredictor, "predict", "one LLM prediction")
    wrap(inputs, "retrieve_for_stocks", "news retrieval")
    wrap(embeddings.OpenAIEmbedder, "embed", "query embedding")
    wrap(milvus.NewsVectorStore, "search_many", "vector search")
    wrap(prediction_service, "store_predictions", "store_predictions")
    engine = get_engine()
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)

    def undo() -> None:
        for owner, attribute, original in reversed(wrapped):
            setattr(owner, attribute, original)
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)

    return undo


SQS_BATCH_SIZE = 10  # the predict queue's event source BatchSize in template.yaml

# --- the invocations: processes (as Lambda runs them) or threads of this process -------------


def deactivate_baselines() -> None:
    from sqlalchemy import update

    from shared.config import get_settings
    from shared.db.session import session_scope
    from shared.predictions import service as prediction_service
    from shared.predictions.models import ModelConfig, ModelKind

    with session_scope() as db_session:
        prediction_service.ensure_default_models(db_session=db_session, chat_model=get_settings().openai_chat_model)
        db_session.execute(update(ModelConfig).where(ModelConfig.kind != ModelKind.LLM).values(active=False))


def create_news_collection() -> None:
    """The news collection, as the crawl leaves it: made here once, not by the workers racing to make it."""
    from shared.llm.embeddings import get_embedder
    from shared.stores.milvus import get_news_store

    embedder = get_embedder()
    get_news_store(embedder.name, embedder.dimension).ensure_collection()


def warm_up(target_date: date, stock_codes: list[str]) -> None:
    """One SQS event of one batch for another day, through the consumer the run measures.

    The OpenAI client, the embedder, Milvus, the pools and the consumer's lazy imports get
    built, as they are in a warm Lambda container; without it an invocation's first event
    spends about half a second importing Powertools' batch utilities before its first call.
    """
    from shared.jobs.service import JobCounts
    from shared.market_calendar import previous_trading_day
    from shared.predictions.workflow import plan_work

    day = previous_trading_day(target_date)
    for batch in plan_work(target_date=day, counts=JobCounts())[:1]:
        invoke(("sqs", sqs_event([batch.model_copy(update={"stock_codes": stock_codes})])))


def warm_up_codes(index: int, *, stocks: int, batch_size: int) -> list[str]:
    """Worker `index`'s warm-up stocks: a slice of its own, so that its batch really calls the model."""
    size = min(stocks, batch_size)
    return [f"{(index * size + offset) % stocks + 1:06d}" for offset in range(size)]


def sqs_event(batches: list[Any]) -> dict[str, Any]:
    """What the predict queue's event source delivers: up to BatchSize (10) records."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench",
                "body": batch.model_dump_json(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:ap-northeast-2:123456789012:bench-predict",
                "awsRegion": "ap-northeast-2",
            }
            for batch in batches
        ]
    }


def invoke(task: tuple[str, Any]) -> None:
    """One invocation's work: an SQS event through the consumer, or one batch through predict_batch."""
    from shared.jobs.service import JobCounts
    from shared.predictions import workflow

    path, payload = task
    if path == "sqs":
        response = workflow.consume_predict_batch(payload, SimpleNamespace(aws_request_id=str(uuid.uuid4())))
        if response["batchItemFailures"]:
            raise RuntimeError(f"records failed: {response['batchItemFailures']}")
    else:
        workflow.predict_batch(workflow.PredictWork.model_validate_json(payload), JobCounts())


def invocation_process(index: int, warm_codes: list[str], target_date: date, tasks: Any, results: Any) -> None:
    """A worker process standing for one predict Lambda: warm up, then take tasks until None."""
    try:
        logged = CountingHandler()
        shared_log = logging.getLogger("shared")
        shared_log.addHandler(logged)
        shared_log.propagate = False
        warm_up(target_date, warm_codes)
        logged.messages.clear()
        results.put(("ready", index, None))
        timers = Timers()
        undo = instrument(timers)
        try:
            while (task := tasks.get()) is not None:
                invoke(task)
        finally:
            undo()
        results.put(("done", index, (dict(timers.seconds), dict(timers.calls), dict(logged.messages))))
    except BaseException:
        results.put(("error", index, traceback.format_exc()))
        raise
    finally:
        from shared.container_state import reset_cached_clients

        reset_cached_clients()


class Invocations:
    """`count` warm invocations that run tasks as they come, like Lambdas behind an SQS event source.

    Processes by default; `threads=True` runs them on threads of this process (one GIL).
    """

    def __init__(self, count: int, *, threads: bool, target_date: date, stocks: int, batch_size: int) -> None:
        self.count = count
        self.threads = threads
        self.timers = Timers()
        self.logged: Counter[str] = Counter()
        self._processes: list[Any] = []
        codes = [warm_up_codes(index, stocks=stocks, batch_size=batch_size) for index in range(count)]
        if threads:
            for warm in codes:
                warm_up(target_date, warm)
            return
        context = multiprocessing.get_context("spawn")
        self._tasks = context.Queue()
        self._results = context.Queue()
        self._processes = [
            context.Process(
                target=invocation_process,
                args=(index, codes[index], target_date, self._tasks, self._results),
                name=f"invocation-{index}",
                daemon=True,
            )
            for index in range(count)
        ]
        for process in self._processes:
            process.start()
        self._await("ready")

    def _await(self, kind: str) -> list[Any]:
        """One `kind` message from every worker; a worker's error (or death) fails the run."""
        payloads: list[Any] = []
        while len(payloads) < self.count:
            try:
                got, index, payload = self._results.get(timeout=5)
            except queue.Empty:
                dead = [process.name for process in self._processes if process.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"invocation processes died: {dead}") from None
                continue
            if got == "error":
                raise RuntimeError(f"invocation {index} failed:\n{payload}")
            if got != kind:
                raise RuntimeError(f"invocation {index} said {got!r}, expected {kind!r}")
            payloads.append(payload)
        return payloads

    def run(self, tasks: list[tuple[str, Any]]) -> float:
        """Run every task on the first free invocation; the wall time from the first task to the last done."""
        if self.threads:
            undo = instrument(self.timers)
            try:
                started = time.perf_counter()
                with ThreadPoolExecutor(max_workers=self.count, thread_name_prefix="invocation") as pool:
                    list(pool.map(invoke, tasks))
                return time.perf_counter() - started
            finally:
                undo()
        started = time.perf_counter()
        for task in tasks:
            self._tasks.put(task)
        for _ in self._processes:
            self._tasks.put(None)
        done = self._await("done")
        wall = time.perf_counter() - started
        for seconds, calls, logged in done:
            for label, value in seconds.items():
                self.timers.seconds[label] += value
            self.timers.calls.update(calls)
            self.logged.update(logged)
        return wall

    def stop(self) -> None:
        """Let every worker finish (after a failure, too: the idle ones take a None and exit)."""
        if not self._processes:
            return
        for _ in self._processes:
            self._tasks.put(None)
        self._tasks.cancel_join_thread()  # tasks nobody took must not hold this process at exit
        for process in self._processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
                process.join()


# --- the run --------------------------------------------------------------------------------


def run(args: argparse.Namespace, sandbox: Sandbox, target_date: date, logged: CountingHandler) -> None:
    from sqlalchemy import func, select

    from shared.db.session import session_scope
    from shared.jobs.service import JobCounts
    from shared.predictions.models import Prediction, PredictionStatus
    from shared.predictions.workflow import plan_work

    deactivate_baselines()
    create_news_collection()
    invocations = Invocations(
        args.invocations,
        threads=args.threads,
        target_date=target_date,
        stocks=args.stocks,
        batch_size=args.batch_size,
    )
    try:
        sandbox.reset()
        sandbox.delay_chat(args.delay)
        logged.messages.clear()

        counts = JobCounts()
        started = time.perf_counter()
        batches = plan_work(target_date=target_date, counts=counts)
        plan_seconds = time.perf_counter() - started

        if args.path == "sqs":
            events = [batches[start : start + SQS_BATCH_SIZE] for start in range(0, len(batches), SQS_BATCH_SIZE)]
            tasks: list[tuple[str, Any]] = [("sqs", sqs_event(event)) for event in events]
            per_invocation = [sum(len(batch.stock_codes) for batch in event) for event in events]
        else:
            tasks = [("batch", batch.model_dump_json()) for batch in batches]
            per_invocation = [len(batch.stock_codes) for batch in batches]
        wall = invocations.run(tasks)
    finally:
        invocations.stop()
    timers = invocations.timers
    logged.messages.update(invocations.logged)

    with session_scope() as db_session:
        failed, cost = db_session.execute(
            select(
                func.count().filter(Prediction.status == PredictionStatus.FAILED),
                func.coalesce(func.sum(Prediction.cost_usd), 0),
            ).where(Prediction.target_date == target_date)
        ).one()
    counts["failed_predictions"] = int(failed)
    counts["cost_microusd"] = int(cost * 1_000_000)

    served = sandbox.requests()
    calls = served[CHAT_PATH]
    with session_scope() as db_session:
        stored = db_session.scalar(
            select(func.count()).select_from(Prediction).where(Prediction.target_date == target_date)
        )
        ok = db_session.scalar(
            select(func.count())
            .select_from(Prediction)
            .where(Prediction.target_date == target_date, Prediction.status == PredictionStatus.OK)
        )

    ideal_concurrency = args.invocations * args.llm_concurrency
    ideal_wall = calls * args.delay / ideal_concurrency
    achieved = calls * args.delay / wall
    ratio = achieved / ideal_concurrency
    rounds = sum(math.ceil(size / args.llm_concurrency) for size in per_invocation)
    batching_bound = sum(per_invocation) / (rounds * args.llm_concurrency) if rounds else 0.0
    busy = timers.seconds["batch"]
    calls_phase = timers.seconds["model calls of a batch"]
    outside = busy - calls_phase
    n_batches = max(1, timers.calls["batch"])
    batch_rounds = sum(math.ceil(len(batch.stock_codes) / args.llm_concurrency) for batch in batches)

    print()
    print(
        f"{args.stocks:,} stocks, {len(batches)} batches of ≤{args.batch_size}, {args.invocations} invocations "
        f"({'threads of one process' if args.threads else 'processes'}) × LLM_CONCURRENCY {args.llm_concurrency}, "
        f"chat completions delayed {args.delay * 1000:.0f} ms"
    )
    print(f"plan_work                        {plan_seconds:8.2f} s   (before the fan-out; not in the wall time)")
    print(f"wall time of the fan-out         {wall:8.2f} s")
    print(
        f"ideal time                       {ideal_wall:8.2f} s   = {calls} calls × {args.delay} s / {ideal_concurrency}"
    )
    print(f"chat calls served                {calls:8d}     {calls / wall:.1f} calls/s")
    print(f"predictions stored               {stored:8d}     {ok} ok, {counts['failed_predictions']} failed")
    print(f"achieved concurrency             {achieved:8.2f}     of an ideal {ideal_concurrency}")
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"achieved / ideal                 {ratio:8.3f}     target ≥ {TARGET}: {verdict}")
    unit = "invocations" if args.path == "sqs" else "batches"
    print(
        f"bound from batching alone        {batching_bound:8.3f}     {rounds} rounds of ≤{args.llm_concurrency} calls "
        f"in {len(per_invocation)} {unit}"
    )
    call_ms = timers.mean_ms("one LLM prediction")
    occupancy_of_calls = timers.seconds["one LLM prediction"] / (wall * ideal_concurrency)
    print(f"  = delay / call latency         {args.delay * 1000 / call_ms:8.3f}     {call_ms:.1f} ms per call, mean")
    print(
        f"  × call threads kept busy       {occupancy_of_calls:8.3f}     time in calls / (wall × {ideal_concurrency})"
    )
    if timers.calls["invocation"]:
        n_invocations = timers.calls["invocation"]
        invocation_ms = timers.mean_ms("invocation")
        needed_ms = sum(per_invocation) / n_invocations / args.llm_concurrency * call_ms
        print(
            f"    one invocation             {invocation_ms:8.0f} ms   its calls need {needed_ms:.0f} ms on "
            f"{args.llm_concurrency} threads: {invocation_ms - needed_ms:.0f} ms with threads idle "
            "(its first records' gathering, its last calls)"
        )
    print()
    print(f"where the invocations' time goes ({n_batches} batches, summed over the {args.invocations} invocations):")
    occupancy = busy / (wall * args.invocations)
    print(f"  busy (in predict_batch)        {busy:8.2f} s   {occupancy:6.1%} of wall × invocations (records overlap)")
    print(
        f"  model calls (_run_predictors)  {calls_phase:8.2f} s   {calls_phase / busy:6.1%}   "
        f"{(calls_phase / max(1, batch_rounds) - args.delay) * 1000:+.0f} ms per round over the delay"
    )
    print(
        f"  before + after the calls       {outside:8.2f} s   {outside / busy:6.1%}   "
        f"{outside / n_batches * 1000:.0f} ms per batch, nothing in flight meanwhile:"
    )
    parts = (
        ("    news retrieval", "news retrieval"),
        ("      query embedding (OpenAI)", "query embedding"),
        ("      vector search (Milvus)", "vector search"),
        ("    store_predictions", "store_predictions"),
        ("    SQL, every statement", "sql statement"),  # overlaps the lines above: a view across them
    )
    for title, label in parts:
        print(
            f"{title:<32}{timers.seconds[label]:9.2f} s   {timers.seconds[label] / busy:6.1%}   "
            f"{timers.calls[label]:5d} × {timers.mean_ms(label):.1f} ms"
        )
    print(
        f"  one LLM prediction (client)    {timers.mean_ms('one LLM prediction'):8.1f} ms mean over "
        f"{timers.calls['one LLM prediction']} (the delay is {args.delay * 1000:.0f} ms)"
    )
    print(f"other sandbox requests: { {path: n for path, n in served.items() if path != CHAT_PATH} }")
    print(f"cost of the day: ${counts['cost_microusd'] / 1e6:.2f} (LLM_DAILY_BUDGET_USD defaults to $20)")
    print(f"counts: {dict(sorted(counts.items()))}")
    for message, number in logged.messages.most_common(10):
        print(f"logged {number}×  {message}")
    print("(one run on a shared, loaded 2-core machine: read the numbers as ±several percent)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stocks", type=int, default=2500)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds each chat completion takes")
    parser.add_argument("--invocations", type=int, default=5, help="concurrent predict Lambdas (processes)")
    parser.add_argument(
        "--threads", action="store_true", help="run the invocations as threads of this process (one shared GIL)"
    )
    parser.add_argument(
        "--path",
        choices=("sqs", "batch"),
        default="sqs",
        help="sqs: invocations consume SQS events of 10 records (production); batch: call predict_batch directly",
    )
    parser.add_argument("--llm-concurrency", type=int, default=5, help="LLM_CONCURRENCY (default: the product's, 5)")
    parser.add_argument("--batch-size", type=int, default=10, help="PREDICT_BATCH_SIZE")
    parser.add_argument("--target-date", type=date.fromisoformat, default=date(2024, 7, 1))
    parser.add_argument("--sandbox-in-process", action="store_true")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args()

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from shared.market_calendar import is_trading_day, previous_trading_day

    if not is_trading_day(args.target_date):
        parser.error(f"{args.target_date} is not a trading day")
    days = [previous_trading_day(args.target_date)]
    while len(days) < HISTORY_DAYS:
        days.append(previous_trading_day(days[-1]))

    name = f"stockinsight_bench_predict_{os.getpid()}"
    url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    lease: tuple[int, str] | None = None
    tmp = Path(tempfile.mkdtemp(prefix="predict_bench_"))
    sandbox: Sandbox | None = None
    milvus_data: str | None = None
    handler = CountingHandler()
    shared_log = logging.getLogger("shared")
    try:
        lease = lease_redis_db()
        redis_db = lease[0]
        sandbox = Sandbox(in_process=args.sandbox_in_process)
        milvus_data = str(tmp / "milvus.db")
        milvus_uri = start_milvus(milvus_data)
        for variable in ("PREDICT_QUEUE_URL", "NOTIFY_QUEUE_URL", "AWS_ENDPOINT_URL", "SECRETS_SSM_PATH",
                         "SECRETS_MANAGER_ID", "DATABASE_HOST"):  # fmt: skip
            os.environ.pop(variable, None)
        os.environ.update(
            {
                "DATABASE_URL": url,
                "REDIS_URL": f"{REDIS_BASE}/{redis_db}",
                "MILVUS_URI": milvus_uri,
                "OPENAI_API_KEY": sandbox.env["OPENAI_API_KEY"],
                "OPENAI_BASE_URL": sandbox.env["OPENAI_BASE_URL"],
                "LLM_CONCURRENCY": str(args.llm_concurrency),
                "PREDICT_BATCH_SIZE": str(args.batch_size),
                # Each Lambda has a pool of its own (the default, 2); threads standing for them share one.
                "DB_POOL_SIZE": str(2 * args.invocations if args.threads else 2),
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        from shared.container_state import reset_cached_clients
        from shared.db.migrate import upgrade_to_head

        reset_cached_clients()
        import redis

        redis.Redis.from_url(f"{REDIS_BASE}/{redis_db}").flushdb()
        upgrade_to_head(url)
        started = time.perf_counter()
        load(url, stocks=args.stocks, days=sorted(days))
        print(f"loaded {args.stocks:,} stocks × {len(days)} closes in {time.perf_counter() - started:.1f}s")

        shared_log.addHandler(handler)
        shared_log.propagate = False
        run(args, sandbox, args.target_date, handler)
    finally:
        shared_log.removeHandler(handler)
        shared_log.propagate = True
        if "shared.container_state" in sys.modules:
            sys.modules["shared.container_state"].reset_cached_clients()  # closes the engine and Milvus
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if lease is not None:
            release_redis_db(*lease)
        if sandbox is not None:
            sandbox.stop()
        if milvus_data is not None:
            stop_milvus(milvus_data)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
