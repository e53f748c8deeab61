"""Korean Telegram messages in HTML parse mode, and the 4096-character limit.

Every value from outside (stock names, rationales, model names) goes through `html.escape`:
Telegram rejects the whole message ("can't parse entities") on one stray `<` or `&`.
Messages are built line by line with every tag closed on its own line, so splitting on
line boundaries keeps the markup valid; `split_html` also copes with tags spanning lines
and with one line longer than the limit (truncated, never inside a tag or an entity).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from shared.notifications.messages import AlertMessage, SignalMessage

# telegram.constants.MessageLimit.MAX_TEXT_LENGTH; not imported so formatting stays free of PTB.
MAX_TEXT_LENGTH = 4096
RATIONALE_MAX_CHARS = 400
ELLIPSIS = "…"

DIRECTION_LABELS = {"up": "▲ 상승", "down": "▼ 하락", "flat": "■ 보합"}


@dataclass(frozen=True, slots=True)
class ScoredCall:
    """One evaluated prediction on a subscriber's watchlist."""

    stock_code: str
    stock_name: str
    model_name: str
    direction: str
    probability: float | None
    actual_return: float
    correct: bool


@dataclass(frozen=True, slots=True)
class ModelHitRate:
    model_name: str
    n: int
    hits: int
    window_n: int
    window_hits: int


@dataclass(frozen=True, slots=True)
class DailySummary:
    target_date: date
    calls: Sequence[ScoredCall]
    hit_rates: Sequence[ModelHitRate]
    window_days: int


def escape(value: object) -> str:
    return html.escape(str(value))


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


def shorten(text: str, max_chars: int) -> str:
    """Plain text cut at a word boundary when possible (before escaping, so no entity is cut)."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    space = cut.rfind(" ")
    if space > max_chars // 2:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def _signed_percent(value: float, *, digits: int = 2) -> str:
    return f"{value:+.{digits}f}%"


def format_signal(message: SignalMessage, *, frontend_base_url: str) -> str:
    link = f"{frontend_base_url.rstrip('/')}/predictions/{message.prediction_id}"
    lines = [
        "<b>🔔 AI 예측 시그널</b>",
        f"<b>{escape(message.stock_name)}</b> ({escape(message.stock_code)})",
        f"방향: <b>{DIRECTION_LABELS[message.direction]}</b> · 확률 <b>{message.probability * 100:.1f}%</b>",
    ]
    if message.expected_return is not None:
        lines.append(f"예상 수익률: {_signed_percent(message.expected_return * 100)}")
    lines.append(f"대상일: {message.target_date.isoformat()} · 모델: {escape(message.model_name)}")
    if message.rationale.strip():
        lines.append(f"근거: {escape(shorten(message.rationale, RATIONALE_MAX_CHARS))}")
    lines.append(f'<a href="{escape(link)}">예측 자세히 보기</a>')
    return "\n".join(lines)


def format_alert(message: AlertMessage) -> str:
    """`change_rate` and `threshold` are in percent, as KRX's FLUC_RT and KIS's prdy_ctrt are."""
    arrow = "▲" if message.change_rate > 0 else "▼" if message.change_rate < 0 else "■"
    return "\n".join(
        [
            "<b>🚨 급등락 알림</b>",
            f"<b>{escape(message.stock_name)}</b> ({escape(message.stock_code)}) "
            f"{arrow} <b>{_signed_percent(message.change_rate)}</b>",
            f"현재가 {message.price:,}원 · 기준 ±{message.threshold:g}%",
            f"{message.day.isoformat()} 장중",
        ]
    )


def format_daily_summary(summary: DailySummary, *, frontend_base_url: str) -> str:
    hits = sum(call.correct for call in summary.calls)
    lines = [
        f"<b>📊 일일 예측 결과 · {summary.target_date.isoformat()}</b>",
        f"관심 종목 예측 {len(summary.calls)}건 중 {hits}건 적중",
    ]
    current_stock: str | None = None
    for call in sorted(summary.calls, key=lambda c: (c.stock_name, c.stock_code, c.model_name)):
        if call.stock_code != current_stock:
            current_stock = call.stock_code
            lines.append("")
            lines.append(f"<b>{escape(call.stock_name)}</b> ({escape(call.stock_code)})")
        probability = "" if call.probability is None else f" {call.probability * 100:.0f}%"
        mark = "✓" if call.correct else "✗"
        lines.append(
            f"· {escape(call.model_name)}: {DIRECTION_LABELS.get(call.direction, escape(call.direction))}"
            f"{probability} → 실제 {_signed_percent(call.actual_return * 100)} {mark}"
        )
    if summary.hit_rates:
        lines.append("")
        lines.append("<b>모델 적중률</b>")
        for rate in sorted(summary.hit_rates, key=lambda r: r.model_name):
            day = f"{rate.hits / rate.n * 100:.1f}% ({rate.hits}/{rate.n})" if rate.n else "-"
            window = ""
            if rate.window_n:
                window = f" · 최근 {summary.window_days}일 {rate.window_hits / rate.window_n * 100:.1f}%"
            lines.append(f"· {escape(rate.model_name)}: {day}{window}")
    lines.append("")
    lines.append(f'<a href="{escape(frontend_base_url.rstrip("/"))}/performance">모델 성과 자세히 보기</a>')
    return "\n".join(lines)


# --- the length limit ------------------------------------------------------

# A tag, an entity, or one character: the units a cut may fall between.
_TOKEN = re.compile(r"<[^<>]*>|&#?\w+;|.", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][\w-]*)")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _apply_tag(stack: list[tuple[str, str]], token: str) -> None:
    """Track open tags: `stack` holds (name, opening tag) pairs."""
    match = _TAG_NAME.match(token)
    if match is None or not token.startswith("<"):
        return
    name = match.group(1).lower()
    if token.startswith("</"):
        for index in range(len(stack) - 1, -1, -1):
            if stack[index][0] == name:
                del stack[index:]
                return
    elif not token.endswith("/>"):
        stack.append((name, token))


def _closing(stack: Sequence[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _reopening(stack: Sequence[tuple[str, str]]) -> str:
    return "".join(opening for _, opening in stack)


def _open_tags_after(stack: Sequence[tuple[str, str]], text: str) -> list[tuple[str, str]]:
    result = list(stack)
    for token in _tokens(text):
        if token.startswith("<"):
            _apply_tag(result, token)
    return result


def truncate_html(text: str, limit: int = MAX_TEXT_LENGTH) -> str:
    """Cut `text` to at most `limit` (UTF-16 units) between tokens, close open tags, mark with …."""
    if telegram_length(text) <= limit:
        return text
    stack: list[tuple[str, str]] = []
    kept: list[str] = []
    used = 0
    budget = limit - telegram_length(ELLIPSIS)
    for token in _tokens(text):
        trial = list(stack)
        if token.startswith("<"):
            _apply_tag(trial, token)
        cost = telegram_length(token)
        if used + cost + telegram_length(_closing(trial)) > budget:
            break
        kept.append(token)
        used += cost
        stack = trial
    return "".join(kept) + ELLIPSIS + _closing(stack)


def split_html(text: str, limit: int = MAX_TEXT_LENGTH) -> list[str]:
    """Split on line boundaries into parts of at most `limit`, each with balanced tags.

    Tags open at a cut are closed at the end of one part and reopened at the start of the
    next; a single line too long for any part is truncated with `truncate_html`.
    """
    if telegram_length(text) <= limit:
        return [text]
    parts: list[str] = []
    stack: list[tuple[str, str]] = []
    current = ""
    has_content = False
    for line in text.split("\n"):
        after = _open_tags_after(stack, line)
        piece = ("\n" if has_content else "") + line
        if telegram_length(current + piece) + telegram_length(_closing(after)) <= limit:
            current += piece
            has_content = True
            stack = after
            continue
        if has_content:
            parts.append(current + _closing(stack))
            current, has_content = _reopening(stack), False
        if telegram_length(current + line) + telegram_length(_closing(after)) <= limit:
            current += line
            has_content = True
        else:
            parts.append(truncate_html(current + line + _closing(after), limit))
            current, has_content = _reopening(after), False
        stack = after
    if has_content and current.strip():
        parts.append(current + _closing(stack))
    return [part for part in parts if part.strip()]
