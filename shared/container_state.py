"""Per-container clients (engine, Redis, SQS, Milvus, OpenAI, embedder) and how to forget them.

A Lambda container builds each client once and reuses it across invocations. A process
that changes the settings under them (the local runner, tests) must drop them all, in one
place, or a stale client keeps talking to the old endpoint.
"""

from __future__ import annotations

import sys


def reset_cached_clients() -> None:
    """Forget the settings and every client built from them."""
    from shared.config import get_settings
    from shared.db.session import reset_engine
    from shared.queues import reset_queue_client
    from shared.stores.redis import reset_redis

    get_settings.cache_clear()
    reset_engine()
    reset_redis()
    reset_queue_client()
    # Modules with heavy imports are reset only if something already imported them.
    if "shared.stores.milvus" in sys.modules:
        sys.modules["shared.stores.milvus"].reset_milvus()
    if "shared.llm.embeddings" in sys.modules:
        sys.modules["shared.llm.embeddings"].reset_embedder()
    if "shared.llm.predictor" in sys.modules:
        sys.modules["shared.llm.predictor"].openai_client.cache_clear()
