"""Redis helpers and the Milvus news store against the real servers (Redis 7, Milvus Lite)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.stores.redis import (
    DailyQuota,
    RateLimiter,
    cached_json,
    exclusive_lock,
    get_json,
    invalidate_namespace,
    set_json,
)


def test_cache_computes_once_until_invalidated(redis_client: Any) -> None:
    calls: list[int] = []

    def compute() -> dict[str, int]:
        calls.append(1)
        return {"value": len(calls)}

    assert cached_json("dashboard", ("a",), 60, compute) == {"value": 1}
    assert cached_json("dashboard", ("a",), 60, compute) == {"value": 1}
    assert cached_json("dashboard", ("b",), 60, compute) == {"value": 2}
    assert invalidate_namespace("dashboard")
    assert cached_json("dashboard", ("a",), 60, compute) == {"value": 3}
    assert 0 < redis_client.ttl(next(iter(redis_client.scan_iter("si:cache:dashboard:*")))) <= 60


def test_cache_failure_degrades_to_computing(settings_env: Callable[..., Any]) -> None:
    settings_env(REDIS_URL="redis://127.0.0.1:1/0")
    assert cached_json("dashboard", ("a",), 60, lambda: {"computed": True}) == {"computed": True}
    assert invalidate_namespace("dashboard") is False


def test_lock_excludes_a_second_holder_and_expires(redis_client: Any) -> None:
    with exclusive_lock("job", ttl_seconds=1) as first:
        assert first
        with exclusive_lock("job", ttl_seconds=1) as second:
            assert not second
    with exclusive_lock("job", ttl_seconds=1) as again:
        assert again  # released on exit
    with exclusive_lock("crashed", ttl_seconds=1) as held:
        assert held
        time.sleep(1.1)  # the holder outlived its TTL: someone else may run
        with exclusive_lock("crashed", ttl_seconds=1) as other:
            assert other


def test_rate_limiter_is_shared_and_bounded(redis_client: Any) -> None:
    limiter = RateLimiter("test", rate_per_second=10, burst=3)
    waits = [limiter.try_acquire() for _ in range(4)]
    assert waits[:3] == [0, 0, 0] and 0 < waits[3] <= 0.1
    other_container = RateLimiter("test", rate_per_second=10, burst=3)
    assert other_container.try_acquire() > 0  # the bucket is in Redis, not in the process
    slow = RateLimiter("slow", rate_per_second=0.01, burst=1)
    slow.acquire(max_wait_seconds=0.0)
    with pytest.raises(TimeoutError):
        slow.acquire(max_wait_seconds=0.05)  # the next token is 100 s away


def test_rate_limiter_paces_concurrent_callers(redis_client: Any) -> None:
    limiter = RateLimiter("pace", rate_per_second=50, burst=1)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            limiter.acquire(max_wait_seconds=5)
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stamps) == 20
    assert stamps[-1] - min(stamps) >= 19 / 50 * 0.9  # 20 tokens at 50/s need ≥ ~0.38 s


def test_daily_quota_stops_at_the_limit_and_resets_next_day(redis_client: Any) -> None:
    quota = DailyQuota("naver", limit=3)
    today = datetime(2024, 1, 8, 10, tzinfo=UTC)
    assert [quota.try_consume(now=today) for _ in range(4)] == [True, True, True, False]
    assert quota.used(now=today) == 3
    assert quota.try_consume(now=today + timedelta(days=1))


def test_json_values_round_trip(redis_client: Any) -> None:
    set_json("token:kis", {"access_token": "abc", "expires": "2024-01-09"}, ttl_seconds=5)
    assert get_json("token:kis") == {"access_token": "abc", "expires": "2024-01-09"}
    assert get_json("missing") is None


def test_news_store_filters_by_stock_and_publish_time(database: str) -> None:
    from shared.llm.embeddings import LocalHashEmbedder
    from shared.stores.milvus import NewsVector, collection_name, get_news_store

    embedder = LocalHashEmbedder(64)
    store = get_news_store(embedder.name, embedder.dimension)
    assert store.collection == collection_name("local_hash", 64) == "news_local_hash_64"
    noon = datetime(2024, 1, 8, 3, tzinfo=UTC)
    texts = ["삼성전자 실적 호조", "SK하이닉스 실적 호조", "삼성전자 신고가"]
    vectors = embedder.embed(texts)
    store.upsert(
        [
            NewsVector(1, vectors[0], ["005930"], noon - timedelta(hours=2)),
            NewsVector(2, vectors[1], ["000660", "005930"], noon - timedelta(hours=1)),
            NewsVector(3, vectors[2], ["005930"], noon + timedelta(hours=1)),
        ]
    )
    query = embedder.embed(["삼성전자 실적"])[0]
    hits = store.search(query, limit=10, stock_code="005930", published_before=noon)
    assert sorted(hit.news_id for hit in hits) == [1, 2]  # 3 is after the cut-off
    assert {hit.news_id for hit in store.search(query, limit=10, stock_code="000660")} == {2}
    many = store.search_many([query, query], limit=10, stock_codes=["000660"], published_before=noon)
    assert [[hit.news_id for hit in hits] for hits in many] == [[2], [2]]
    assert store.upsert([NewsVector(1, vectors[0], ["005930"], noon)]) == 1  # upsert, not duplicate
    with pytest.raises(ValueError, match="invalid stock code"):
        store.search(query, limit=1, stock_code='0" or 1==1')


def test_milvus_server_uri_is_a_server_client_and_health_reports_it_down(settings_env: Callable[..., Any]) -> None:
    from shared.stores import milvus

    settings_env(MILVUS_URI="http://127.0.0.1:1", MILVUS_TOKEN="root:Milvus")
    assert milvus._client_kwargs("http://127.0.0.1:1") == {
        "uri": "http://127.0.0.1:1",
        "timeout": 10,
        "token": "root:Milvus",
    }
    up, detail = milvus.milvus_health()
    assert up is False and detail
