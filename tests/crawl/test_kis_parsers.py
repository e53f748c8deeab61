"""KIS parsing: the rt_cd envelope (errors in 200 and 500 bodies), quotes, daily charts."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from shared.ingestion.quotes import crossed_thresholds
from shared.sources.kis import (
    KisError,
    KisNoDataError,
    check_envelope,
    is_retryable,
    parse_daily_chart,
    parse_quote,
)

OK = {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다."}


def test_quote_fields_parse_from_strings() -> None:
    payload = {**OK, "output": {"stck_shrn_iscd": "005930", "stck_prpr": "76600", "prdy_vrss": "-1000",
               "prdy_vrss_sign": "5", "prdy_ctrt": "-1.29", "acml_vol": "11000000", "acml_tr_pbmn": "843000000000",
               "stck_oprc": "77400", "stck_hgpr": "77500", "stck_lwpr": "76300", "stck_sdpr": "77600",
               "temp_stop_yn": "N"}}  # fmt: skip
    quote = parse_quote(payload, code="005930")
    assert (quote.price, quote.change, quote.change_rate, quote.prev_close) == (76_600, -1000, -1.29, 77_600)
    assert quote.halted is False


@pytest.mark.parametrize("status", [200, 500])
def test_error_envelope_is_an_error_whatever_the_status(status: int) -> None:
    body = {"rt_cd": "1", "msg_cd": "EGW00123", "msg1": "기간이 만료된 token 입니다."}
    with pytest.raises(KisError, match="EGW00123") as raised:
        check_envelope(body, status_code=status)
    assert raised.value.msg_cd == "EGW00123" and raised.value.status_code == status


def test_no_data_is_its_own_error() -> None:
    with pytest.raises(KisNoDataError):
        check_envelope({"rt_cd": "7", "msg_cd": "KIOK0560", "msg1": "조회할 자료가 없습니다."})


def test_malformed_quote_is_rejected() -> None:
    with pytest.raises(ValueError, match="stck_prpr"):
        parse_quote({**OK, "output": {"stck_prpr": "abc"}}, code="005930")
    with pytest.raises(KisError, match="output"):
        parse_quote(OK, code="005930")


def test_daily_chart_rows_with_padding_and_a_bad_row() -> None:
    payload = {**OK, "output1": {"hts_kor_isnm": "삼성전자", "stck_shrn_iscd": "005930"}, "output2": [
        {"stck_bsop_date": "20240105", "stck_oprc": "77400", "stck_hgpr": "77500", "stck_lwpr": "76300",
         "stck_clpr": "76600", "acml_vol": "11000000", "acml_tr_pbmn": "843000000000", "prdy_vrss": "-1000",
         "prdy_vrss_sign": "5", "flng_cls_code": "00", "prtt_rate": "0.00", "mod_yn": "N"},
        {"stck_bsop_date": "20240104", "stck_oprc": "0", "stck_hgpr": "0", "stck_lwpr": "0", "stck_clpr": "77600",
         "acml_vol": "0", "acml_tr_pbmn": "0", "prdy_vrss": "0"},
        {"stck_bsop_date": "20240103", "stck_clpr": "n/a"},
        {},
    ]}  # fmt: skip
    batch = parse_daily_chart(payload, code="005930")
    newest, halted = batch.records
    assert (newest.day, newest.close, newest.change, newest.change_rate, newest.name) == (
        date(2024, 1, 5), 76_600, -1000, -1.29, "삼성전자",
    )  # fmt: skip
    assert (halted.open, halted.low, halted.volume) == (77_600, 77_600, 0)
    assert len(batch.rejected) == 1 and batch.rejected[0].raw["stck_clpr"] == "n/a"


def test_only_rate_limits_and_gateway_errors_are_retried() -> None:
    too_fast = {"rt_cd": "1", "msg_cd": "EGW00201", "msg1": "초당 거래건수를 초과하였습니다."}
    assert is_retryable(httpx.Response(500, json=too_fast))
    assert is_retryable(httpx.Response(200, json=too_fast))
    assert is_retryable(httpx.Response(502, text="<html>Bad Gateway</html>"))
    assert not is_retryable(httpx.Response(500, json={"rt_cd": "1", "msg_cd": "EGW00123", "msg1": "만료"}))
    assert not is_retryable(httpx.Response(200, json=OK))


def test_thresholds_cross_in_both_directions() -> None:
    assert crossed_thresholds(3.2, (3.0, 5.0)) == [3.0]
    assert crossed_thresholds(-5.0, (3.0, 5.0)) == [3.0, 5.0]
    assert crossed_thresholds(-2.99, (3.0, 5.0)) == []
