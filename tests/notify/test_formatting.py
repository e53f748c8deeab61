"""Korean HTML messages and the 4096-character limit (pure functions)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from shared.notifications.formatting import (
    MAX_TEXT_LENGTH,
    DailySummary,
    ModelHitRate,
    ScoredCall,
    format_alert,
    format_daily_summary,
    format_signal,
    shorten,
    split_html,
    telegram_length,
    truncate_html,
)
from shared.notifications.messages import AlertMessage, SignalMessage
from shared.notifications.telegram import retry_after_seconds, telegram_chat_id

_TAG = re.compile(r"</?([a-z-]+)[^>]*>")


def _balanced(text: str) -> bool:
    stack: list[str] = []
    for match in _TAG.finditer(text):
        if match.group(0).startswith("</"):
            if not stack or stack.pop() != match.group(1):
                return False
        else:
            stack.append(match.group(1))
    return not stack


def _no_broken_entity(text: str) -> bool:
    return all(re.match(r"&(lt|gt|amp|quot|#x?[0-9a-f]+);", text[i:]) for i in range(len(text)) if text[i] == "&")


def test_signal_is_escaped_and_names_everything() -> None:
    message = SignalMessage(
        prediction_id=42,
        stock_code="005930",
        stock_name="삼성<전자>",
        model_name="gpt&4o",
        direction="down",
        probability=0.734,
        expected_return=-0.0123,
        rationale="실적 <우려> & 환율",
        target_date=date(2024, 1, 3),
    )
    text = format_signal(message, frontend_base_url="https://app.example/")
    assert "<b>삼성&lt;전자&gt;</b> (005930)" in text
    assert "▼ 하락" in text and "73.4%" in text and "-1.23%" in text and "gpt&amp;4o" in text
    assert "실적 &lt;우려&gt; &amp; 환율" in text
    assert '<a href="https://app.example/predictions/42">' in text
    assert _balanced(text)


@pytest.mark.parametrize(("direction", "label"), [("up", "▲ 상승"), ("down", "▼ 하락"), ("flat", "■ 보합")])
def test_directions_in_korean(direction: str, label: str) -> None:
    message = SignalMessage(
        prediction_id=1,
        stock_code="000660",
        stock_name="SK하이닉스",
        model_name="m",
        direction=direction,  # type: ignore[arg-type]
        probability=0.9,
        target_date=date(2024, 1, 3),
    )
    assert label in format_signal(message, frontend_base_url="http://x")


def test_alert_shows_move_price_and_threshold() -> None:
    text = format_alert(
        AlertMessage(
            stock_code="035420", stock_name="NAVER", price=201_500, change_rate=-7.25, threshold=5, day=date(2024, 1, 3)
        )
    )
    assert "▼ <b>-7.25%</b>" in text and "201,500원" in text and "±5%" in text


def test_long_rationale_is_shortened_before_escaping() -> None:
    assert shorten("a" * 10, 20) == "a" * 10
    short = shorten("가나다 " * 200, 50)
    assert len(short) <= 50 and short.endswith("…")


def test_telegram_counts_utf16_units() -> None:
    assert telegram_length("가나다") == 3
    assert telegram_length("📈") == 2


def test_split_keeps_short_messages_whole() -> None:
    assert split_html("<b>x</b>\ny") == ["<b>x</b>\ny"]


def test_split_on_line_boundaries_under_the_limit() -> None:
    lines = [f"<b>종목 {index}</b> &amp; 설명 {'가' * 50}" for index in range(300)]
    parts = split_html("\n".join(lines), limit=1000)
    assert len(parts) > 1
    assert all(telegram_length(part) <= 1000 and _balanced(part) and _no_broken_entity(part) for part in parts)
    assert "\n".join(parts).split("\n") == lines  # nothing lost, nothing cut


def test_split_reopens_tags_spanning_lines() -> None:
    text = "<blockquote>" + "\n".join(f"줄 {index} {'나' * 40}" for index in range(100)) + "</blockquote>"
    parts = split_html(text, limit=500)
    assert len(parts) > 1
    assert all(part.startswith("<blockquote>") and part.endswith("</blockquote>") for part in parts)
    assert all(telegram_length(part) <= 500 and _balanced(part) for part in parts)


def test_a_single_overlong_line_is_truncated_between_tokens() -> None:
    line = "<b>" + "&amp;가<i>나</i>" * 2000 + "</b>"
    for limit in range(40, 60):
        (part,) = split_html(line, limit=limit)
        assert telegram_length(part) <= limit
        assert _balanced(part) and _no_broken_entity(part)
        assert "…" in part


def test_truncate_never_cuts_an_entity_or_a_tag() -> None:
    text = '<a href="https://x.example/a?b=1&amp;c=2">' + "&lt;" * 100 + "</a>"
    for limit in range(1, 80):
        cut = truncate_html(text, limit)
        assert telegram_length(cut) <= max(limit, 1)
        assert _balanced(cut) and _no_broken_entity(cut)


def _summary(stocks: int) -> DailySummary:
    calls = [
        ScoredCall(
            stock_code=f"{index:06d}",
            stock_name=f"종목<{index}>",
            model_name=model,
            direction="up",
            probability=0.71,
            actual_return=0.0123 if index % 2 else -0.02,
            correct=bool(index % 2),
        )
        for index in range(stocks)
        for model in ("gpt-4o-v1", "momentum-5d")
    ]
    rates = [ModelHitRate(model_name="gpt-4o-v1", n=10, hits=6, window_n=200, window_hits=113)]
    return DailySummary(target_date=date(2024, 1, 3), calls=calls, hit_rates=rates, window_days=30)


def test_daily_summary_marks_hits_and_misses() -> None:
    text = format_daily_summary(_summary(2), frontend_base_url="https://app.example")
    assert "일일 예측 결과 · 2024-01-03" in text and "관심 종목 예측 4건 중 2건 적중" in text
    assert "<b>종목&lt;1&gt;</b> (000001)" in text
    assert "→ 실제 +1.23% ✓" in text and "→ 실제 -2.00% ✗" in text
    assert "· gpt-4o-v1: 60.0% (6/10) · 최근 30일 56.5%" in text


def test_a_long_daily_summary_splits_into_valid_parts() -> None:
    text = format_daily_summary(_summary(150), frontend_base_url="https://app.example")
    assert telegram_length(text) > MAX_TEXT_LENGTH
    parts = split_html(text)
    assert len(parts) >= 2
    assert all(telegram_length(part) <= MAX_TEXT_LENGTH and _balanced(part) for part in parts)


def test_retry_after_is_read_as_int_or_timedelta() -> None:
    assert retry_after_seconds(17) == 17.0
    assert retry_after_seconds(timedelta(seconds=3)) == 3.0
    assert retry_after_seconds(2.5) == 2.5


def test_chat_ids_are_numbers_unless_a_channel_name() -> None:
    assert telegram_chat_id("123") == 123
    assert telegram_chat_id("-1001234567890") == -1001234567890
    assert telegram_chat_id("@stockinsight") == "@stockinsight"


def test_groups_and_channels_are_paced_slower_than_private_chats() -> None:
    from shared.notifications.telegram import TelegramLimiter

    limiter = TelegramLimiter(overall_per_second=30, chat_per_second=1)
    assert limiter.for_chat("1001").rate == 1
    assert limiter.for_chat("-1001234567890").rate == pytest.approx(20 / 60)
    assert limiter.for_chat("@stockinsight").rate == pytest.approx(20 / 60)
    assert limiter.overall.rate == 30 and limiter.overall.capacity == 3
