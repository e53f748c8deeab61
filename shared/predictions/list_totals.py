"""Totals of the predictions list: the api caches the large ones (counting ~1M rows costs
~50 ms a request); whoever writes predictions or evaluations invalidates them after committing."""

from __future__ import annotations

from shared.stores.redis import invalidate_namespace

NAMESPACE = "prediction_counts"


def invalidate() -> bool:
    return invalidate_namespace(NAMESPACE)
