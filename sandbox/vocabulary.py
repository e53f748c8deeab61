"""Korean finance vocabulary shared by the news generator and the fake LLM.

The generated headlines use these words with a tone that follows the day's real move, and the
fake chat model reads the same words back to pick a direction, so the demo's predictions are
as informative as the news is — the sandbox's stand-in for "the model read the news".
"""

from __future__ import annotations

import re

POSITIVE_WORDS: tuple[str, ...] = (
    "호조", "급등", "상향", "순매수", "강세", "상승", "신고가", "개선", "흑자", "반등", "수주",
    "기대감", "호실적", "돌파", "surge", "rally", "upgrade", "beat", "bullish",
)  # fmt: skip
NEGATIVE_WORDS: tuple[str, ...] = (
    "부진", "급락", "하향", "매도세", "약세", "하락", "신저가", "악화", "적자", "우려", "순매도",
    "손실", "부담", "plunge", "slump", "downgrade", "miss", "bearish",
)  # fmt: skip

_POSITIVE_RE = re.compile("|".join(map(re.escape, POSITIVE_WORDS)), re.IGNORECASE)
_NEGATIVE_RE = re.compile("|".join(map(re.escape, NEGATIVE_WORDS)), re.IGNORECASE)


def tone_counts(text: str) -> tuple[int, int]:
    """Occurrences of positive and negative finance words in a text."""
    return len(_POSITIVE_RE.findall(text)), len(_NEGATIVE_RE.findall(text))


# Headline and snippet templates. {name}: the stock, {name2}: a second stock, {code}, {md}: 1월 5일.
# Quotes and ampersands are plain here; the Naver emulation HTML-escapes them like the real API.
TITLES: dict[str, tuple[str, ...]] = {
    "positive": (
        "{name}, 실적 호조에 주가 급등",
        '{name} 목표가 상향…"하반기 실적 개선 본격화"',
        "외국인 순매수 몰린 {name}, 강세 마감",
        "{name}, 52주 신고가 경신",
        "{name} 호실적 기대감에 상승세",
        '증권가 "{name}, 대규모 수주로 실적 개선"',
        "[특징주] {name}, 저항선 돌파하며 급등",
        "{name} 흑자 전환 기대감…기관 순매수",
    ),
    "negative": (
        "{name}, 실적 부진 우려에 급락",
        '{name} 목표가 하향…"업황 악화 지속"',
        "외국인 매도세에 {name} 약세",
        "{name}, 52주 신저가…투자심리 악화",
        "{name} 하락 마감, 기관 순매도",
        "{name}, 적자 전환 우려 부각",
        "[특징주] {name}, 수익성 악화에 약세",
        '"{name} 재고 부담" 증권가 눈높이 하향',
    ),
    "neutral": (
        "{name}, 정기 주주총회 개최",
        "{name} 보합권 등락…관망세 짙어",
        "{name}, 신임 대표이사 선임",
        "[공시] {name}, 자기주식 처분 결정",
        "{name}, 신제품 공개 행사 예고",
        '{name} "R&D 투자 계획 변함없다"',
        "{name}, 지속가능경영 보고서 발간",
    ),
}
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "positive": (
        "{name}({code})가 {md} 외국인과 기관의 동반 순매수에 강세를 보였다. "
        '증권가는 "실적 개선 흐름이 뚜렷하다"고 평가했다.',
        "{name}의 분기 실적이 시장 예상을 웃돌 것이란 전망에 매수세가 몰렸다. R&D 성과와 신규 수주가 호재로 꼽힌다.",
        '{md} 증시에서 {name}({code}) 주가가 상승했다. 한 연구원은 "목표가를 상향한다"며 업황 반등을 점쳤다.',
    ),
    "negative": (
        '{name}({code})가 {md} 외국인 매도세에 약세를 보였다. 증권가는 "실적 부진이 길어질 수 있다"고 우려했다.',
        "{name}의 분기 실적이 시장 기대에 못 미칠 것이란 우려에 주가가 하락했다. 원가 부담과 수요 악화가 겹쳤다.",
        '{md} 증시에서 {name}({code}) 주가가 급락했다. 한 연구원은 "목표가를 하향한다"며 보수적 접근을 권했다.',
    ),
    "neutral": (
        "{name}({code})는 {md} 이사회를 열고 주요 안건을 의결했다고 밝혔다. "
        '회사 측은 M&A 관련 문의에 "정해진 바 없다"고 답했다.',
        "{md} 증시에서 {name}({code})는 뚜렷한 방향성 없이 등락을 거듭했다. "
        "시장은 다음 주 발표될 지표를 주시하고 있다.",
        '{name} 관계자는 "중장기 계획에 따라 사업을 운영하고 있다"고 말했다.',
    ),
}
SECOND_MENTION = (
    " 같은 업종의 {name2}도 투자자들의 관심을 받았다.",
    " 업계에서는 {name2}와의 협력 가능성도 거론된다.",
    " {name2} 등 관련 종목의 주가 흐름도 함께 주목된다.",
)
WEEKEND_TITLES = ("{name}, 다음 주 주요 일정은", "[주간 전망] {name} 향방은")
WEEKEND_DESCRIPTIONS = ("{name}({code})의 다음 주 주요 일정과 시장의 관전 포인트를 정리했다.",)
