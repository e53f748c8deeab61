"""The demo's plan and bookkeeping (the end-to-end run is the lead's skeleton test)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from runner.demo import (
    DemoOptions,
    Drain,
    Invoke,
    SetClock,
    StartDay,
    WatchStocks,
    _fresh_milvus_file,
    _summarize,
    backfill_range,
    replay_days,
    replay_plan,
)
from runner.template import Template, load_template


@pytest.fixture
def real_template(repo_root: Path) -> Template:
    return load_template(repo_root / "template.yaml")


def test_the_default_replay_is_six_trading_days_from_2024_01_03() -> None:
    assert replay_days(DemoOptions()) == [
        dt.date(2024, 1, 3),
        dt.date(2024, 1, 4),
        dt.date(2024, 1, 5),
        dt.date(2024, 1, 8),
        dt.date(2024, 1, 9),
        dt.date(2024, 1, 10),
    ]
    with pytest.raises(ValueError, match="at least 1"):
        replay_days(DemoOptions(days=0))


def test_backfill_covers_trading_days_before_the_first_replayed_day() -> None:
    assert backfill_range(dt.date(2024, 1, 3), 1) == (dt.date(2024, 1, 2), dt.date(2024, 1, 2))
    # 2023-12-25 (Christmas) and 12-29 (year-end closure) are not trading days.
    assert backfill_range(dt.date(2024, 1, 3), 5) == (dt.date(2023, 12, 22), dt.date(2024, 1, 2))
    assert backfill_range(dt.date(2024, 1, 3), 0) is None


def test_each_day_follows_the_schedules_rhythm(real_template: Template) -> None:
    plan = replay_plan(real_template, DemoOptions(days=1, backfill_days=2))
    assert plan[:4] == [
        StartDay(None),
        SetClock(dt.datetime(2024, 1, 3, 7, 30, tzinfo=plan[1].at.tzinfo)),  # type: ignore[union-attr]
        Invoke("crawl", {"job": "listing", "date": "2024-01-03"}, "crawl listing"),
        WatchStocks(("005930", "000660", "035420", "035720", "373220")),
    ]
    day = plan[5:]
    steps = [
        (type(action).__name__, getattr(action, "function", None), dict(getattr(action, "event", {})).get("job"))
        for action in day
    ]
    assert steps == [
        ("StartDay", None, None),
        ("SetClock", None, None),
        ("Invoke", "crawl", "news"),
        ("Invoke", "crawl", "embed"),
        ("Invoke", "predict", "run"),
        ("Drain", "predict", None),
        ("Drain", "notify", None),
        ("SetClock", None, None),
        ("Invoke", "crawl", "prices"),
        ("Invoke", "evaluate", "run"),
        ("Invoke", "notify", "daily_summary"),
        ("Drain", None, None),
    ]
    clocks = [action.at.isoformat() for action in day if isinstance(action, SetClock)]
    assert clocks == ["2024-01-03T08:00:00+09:00", "2024-01-03T16:10:00+09:00"]
    assert all(action.event["date"] == "2024-01-03" for action in day if isinstance(action, Invoke))
    assert isinstance(day[-1], Drain)


def test_job_results_summarize_to_a_row() -> None:
    result = {
        "function": "crawl",
        "job": "news",
        "status": "succeeded",
        "counts": {"fetched": 10, "inserted": 9},
        "job_run_id": 7,
        "error": None,
        "requests": 2,
        "partial": False,
    }
    assert _summarize(result) == ("succeeded", "fetched=10 inserted=9 requests=2")
    assert _summarize({"status": "failed", "counts": {}, "error": "boom"}) == ("failed", "error=boom")
    assert _summarize(["not", "a", "mapping"]) == ("ok", "['not', 'a', 'mapping']")


def test_the_previous_runs_milvus_data_is_removed(tmp_path: Path) -> None:
    (tmp_path / "milvus.db" / "collections").mkdir(parents=True)
    (tmp_path / ".milvus.db.lock").write_text("")
    assert _fresh_milvus_file(tmp_path) == tmp_path / "milvus.db"
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "milvus.db").write_text("an older Milvus Lite file")
    _fresh_milvus_file(tmp_path)
    assert not (tmp_path / "milvus.db").exists()
