"""Deterministic A/B assignment: a stock always lands in the same variant of a test, every day."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol, TypeVar


class WeightedVariant(Protocol):
    id: int
    weight: float


def unit_interval(test_id: int, stock_code: str) -> float:
    """A uniform value in [0, 1) from a hash of (test, stock): stable across runs and machines."""
    digest = hashlib.sha256(f"{test_id}:{stock_code}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


V = TypeVar("V", bound=WeightedVariant)


def assign_variant(test_id: int, stock_code: str, variants: Sequence[V]) -> V:
    positive = [variant for variant in sorted(variants, key=lambda v: v.id) if variant.weight > 0]
    if not positive:
        raise ValueError(f"A/B test {test_id} has no variant with a positive weight")
    total = sum(variant.weight for variant in positive)
    point = unit_interval(test_id, stock_code) * total
    cumulative = 0.0
    for variant in positive:
        cumulative += variant.weight
        if point < cumulative:
            return variant
    return positive[-1]
