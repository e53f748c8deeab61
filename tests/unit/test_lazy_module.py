"""A lazily imported module is imported by its first attribute access, and then behaves as itself."""

from __future__ import annotations

import sys

from shared.lazy_module import LazyModule, lazy_module


def test_import_waits_for_the_first_attribute() -> None:
    sys.modules.pop("colorsys", None)
    colorsys = lazy_module("colorsys")
    assert isinstance(colorsys, LazyModule)
    assert "colorsys" not in sys.modules
    assert colorsys.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "colorsys" in sys.modules
    assert colorsys.hsv_to_rgb is sys.modules["colorsys"].hsv_to_rgb
    assert "rgb_to_yiq" in dir(colorsys)


def test_exception_classes_can_be_caught_through_it() -> None:
    json = lazy_module("json")
    try:
        json.loads("{")
    except json.JSONDecodeError as exc:
        assert exc.pos == 1
    else:
        raise AssertionError("expected a JSONDecodeError")
