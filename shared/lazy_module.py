"""Modules imported on first attribute access, not at import time.

Cold start is paid on every new Lambda container: a library that only some requests need
(redis-py, ~40 ms, which imports its asyncio client too) should cost only those requests.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class LazyModule(types.ModuleType):
    """Stands for a module until an attribute is read; then imports it and becomes it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._loaded: types.ModuleType | None = None

    def _load(self) -> types.ModuleType:
        if self._loaded is None:
            module = importlib.import_module(self.__name__)
            self.__dict__.update(module.__dict__)
            self._loaded = module
        return self._loaded

    def __getattr__(self, attribute: str) -> Any:
        # Only called for names not (yet) in __dict__: after the load, lookups are direct.
        return getattr(self._load(), attribute)

    def __dir__(self) -> list[str]:
        return dir(self._load())


def lazy_module(name: str) -> Any:
    """`redis = lazy_module("redis")`: typed as Any here; import it under TYPE_CHECKING for types."""
    return LazyModule(name)
