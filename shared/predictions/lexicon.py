"""A small Korean finance sentiment lexicon for the news-sentiment baseline.

Deliberately simple: the baseline exists to set the bar an LLM must clear, not to win.
"""

from __future__ import annotations

POSITIVE_TERMS: tuple[str, ...] = (
    "호조",
    "급등",
    "상승",
    "강세",
    "반등",
    "신고가",
    "상향",
    "최대",
    "흑자",
    "수주",
    "순매수",
    "기대감",
    "성장",
    "호재",
    "돌파",
    "개선",
    "증가",
    "수혜",
    "매수",
    "사상 최고",
    "실적 개선",
)
NEGATIVE_TERMS: tuple[str, ...] = (
    "부진",
    "급락",
    "하락",
    "약세",
    "하향",
    "적자",
    "손실",
    "순매도",
    "우려",
    "악재",
    "감소",
    "리스크",
    "매도",
    "신저가",
    "충격",
    "둔화",
    "경고",
    "소송",
    "부담",
    "실적 악화",
)


def sentiment_score(text: str) -> int:
    """Positive minus negative term occurrences."""
    positive = sum(text.count(term) for term in POSITIVE_TERMS)
    negative = sum(text.count(term) for term in NEGATIVE_TERMS)
    return positive - negative
