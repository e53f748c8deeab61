"""Finding the stocks a headline names."""

from __future__ import annotations

from shared.ingestion.stock_names import StockNameMatcher

NAMES = {
    "005930": "삼성전자",
    "005935": "삼성전자우",
    "006400": "삼성SDI",
    "003550": "LG",
    "066570": "LG전자",
    "000660": "SK하이닉스",
    "034730": "SK",
    "035420": "NAVER",
    "000001": "A",  # one character: too ambiguous to match
}


def test_every_named_stock_is_found() -> None:
    matcher = StockNameMatcher(NAMES)
    found = matcher.codes_in("삼성전자·SK하이닉스 반도체 호조", "NAVER는 보합")
    assert found == {"005930", "000660", "035420"}


def test_longest_name_wins() -> None:
    matcher = StockNameMatcher(NAMES)
    assert matcher.codes_in("삼성전자우 급등") == {"005935"}
    assert matcher.codes_in("LG전자 신제품") == {"066570"}


def test_names_inside_longer_latin_tokens_do_not_match() -> None:
    matcher = StockNameMatcher(NAMES)
    assert matcher.codes_in("LGD 실적", "SKC 공장") == set()
    assert matcher.codes_in("LG그룹과 SK의 협력") == {"003550", "034730"}


def test_short_names_are_ignored() -> None:
    matcher = StockNameMatcher(NAMES)
    assert len(matcher) == 8
    assert matcher.codes_in("A 등급") == set()


def test_a_full_universe_compiles_and_matches() -> None:
    universe = {f"{i:06d}": f"종목{i}호" for i in range(3000)}
    universe["005930"] = "삼성전자"
    matcher = StockNameMatcher(universe)
    assert matcher.codes_in("종목2999호와 삼성전자, 종목12호") == {"002999", "005930", "000012"}


def test_empty_universe_matches_nothing() -> None:
    assert StockNameMatcher({}).codes_in("삼성전자") == set()


def test_a_name_must_be_a_word_of_its_own() -> None:
    """대상 (a listed food maker) is also the everyday word for "target": spelling rules out most misreads."""
    matcher = StockNameMatcher({**NAMES, "001680": "대상"})
    assert matcher.codes_in("코스피 최대상승 종목") == set()  # tail of another word
    assert matcher.codes_in("지원대상자 확대") == set()  # head of a longer word
    assert matcher.codes_in("LG에너지 투자") == set()  # 에 is a particle only at a word's end
    assert matcher.codes_in("대상, 실적 개선") == {"001680"}
    assert matcher.codes_in("대상의 3분기 실적") == {"001680"}
    assert matcher.codes_in("삼성전자와의 협력", "SK주가 급등") == {"005930", "034730"}
