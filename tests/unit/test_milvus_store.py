"""Two containers creating the news collection at once: the loser uses the winner's collection."""

from __future__ import annotations

from typing import Any

import pytest


class RacingClient:
    """has_collection says no, then create fails because another process just made it."""

    def __init__(self, *, created_by_other: bool) -> None:
        self.created_by_other = created_by_other
        self.loaded: list[str] = []
        self._checks = 0

    def has_collection(self, name: str) -> bool:
        self._checks += 1
        return self.created_by_other and self._checks > 1

    def create_schema(self, **kwargs: Any) -> Any:
        from pymilvus import MilvusClient

        return MilvusClient.create_schema(**kwargs)

    def prepare_index_params(self) -> Any:
        from pymilvus import MilvusClient

        return MilvusClient.prepare_index_params()

    def create_collection(self, name: str, **kwargs: Any) -> None:
        from pymilvus import MilvusException

        raise MilvusException(message=f"collection {name} already exists")

    def get_load_state(self, name: str) -> dict[str, str]:
        return {"state": "LoadState.NotLoad"}

    def load_collection(self, name: str) -> None:
        self.loaded.append(name)


def test_a_collection_created_concurrently_is_loaded_not_an_error() -> None:
    from shared.stores.milvus import NewsVectorStore

    client = RacingClient(created_by_other=True)
    store = NewsVectorStore(client, collection="news_x_8", dimension=8)  # type: ignore[arg-type]
    store.ensure_collection()
    assert client.loaded == ["news_x_8"]


def test_a_create_that_fails_for_another_reason_is_raised() -> None:
    from pymilvus import MilvusException

    from shared.stores.milvus import NewsVectorStore

    store = NewsVectorStore(RacingClient(created_by_other=False), collection="news_x_8", dimension=8)  # type: ignore[arg-type]
    with pytest.raises(MilvusException):
        store.ensure_collection()
