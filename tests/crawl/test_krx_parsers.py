"""KRX parsers against recorded responses and hand-made rows in the real shapes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest

from shared.sources.krx import (
    KrxAuthError,
    KrxError,
    KrxSessionExpiredError,
    decode_krx_body,
    parse_data_daily_prices,
    parse_data_listing,
    parse_krx_date,
    parse_krx_int,
    parse_openapi_daily_prices,
    parse_openapi_listing,
)
from shared.sources.records import MalformedFieldError
from shared.stocks.models import Market

BOTH = (Market.KOSPI, Market.KOSDAQ)
ALL = (Market.KOSPI, Market.KOSDAQ, Market.KONEX)


def _data_row(**overrides: str) -> dict[str, str]:
    row = {
        "ISU_SRT_CD": "005930", "ISU_CD": "KR7005930003", "ISU_ABBRV": "삼성전자", "MKT_NM": "KOSPI",
        "SECT_TP_NM": "", "TDD_CLSPRC": "76,600", "FLUC_TP_CD": "2", "CMPPREVDD_PRC": "-1,000",
        "FLUC_RT": "-1.29", "TDD_OPNPRC": "77,400", "TDD_HGPRC": "77,500", "TDD_LWPRC": "76,300",
        "ACC_TRDVOL": "11,000,000", "ACC_TRDVAL": "843,000,000,000", "MKTCAP": "457,000,000,000,000",
        "LIST_SHRS": "5,969,782,550", "MKT_ID": "STK",
    }  # fmt: skip
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("2,975,231,937,664", 2_975_231_937_664), ("-1,000", -1000), ("5280", 5280), (" 95 ", 95), ("+35", 35)],
)
def test_krx_integers_parse_from_their_string_forms(raw: str, expected: int) -> None:
    assert parse_krx_int(raw) == expected


@pytest.mark.parametrize("raw", ["1.5", "abc", "1,2x", "--"])
def test_garbage_numbers_are_malformed(raw: str) -> None:
    with pytest.raises(MalformedFieldError):
        parse_krx_int(raw, "TDD_CLSPRC")


def test_krx_dates_in_every_shape() -> None:
    assert parse_krx_date("2008/09/23") == date(2008, 9, 23)
    assert parse_krx_date("20080923") == date(2008, 9, 23)
    assert parse_krx_date("-") is None
    with pytest.raises(MalformedFieldError):
        parse_krx_date("2008/13/45")


def test_recorded_full_market_day_parses_every_row(krx_payload: Callable[[str], Any]) -> None:
    payload = krx_payload("MDCSTAT01501_ALL_20210104")
    batch = parse_data_daily_prices(payload, day=date(2021, 1, 4), markets=ALL)
    assert len(batch.records) == 2531
    assert not batch.rejected and not batch.unpublished
    samsung = next(r for r in batch.records if r.code == "005930")
    assert (samsung.close, samsung.volume, samsung.market) == (83_000, 38_655_276, Market.KOSPI)
    assert samsung.isin == "KR7005930003"
    assert any(not r.code.isdigit() for r in batch.records)  # e.g. 00104K keeps its letter


def test_konex_rows_are_left_out_unless_asked_for(krx_payload: Callable[[str], Any]) -> None:
    batch = parse_data_daily_prices(krx_payload("MDCSTAT01501_ALL_20210104"), day=date(2021, 1, 4), markets=BOTH)
    assert len(batch.records) == 2531 - 143
    assert {r.market for r in batch.records} == {Market.KOSPI, Market.KOSDAQ}


def test_halted_stock_bar_is_stored_at_its_close(krx_payload: Callable[[str], Any]) -> None:
    batch = parse_data_daily_prices(krx_payload("MDCSTAT01501_ALL_20210104"), day=date(2021, 1, 4), markets=ALL)
    halted = next(r for r in batch.records if r.code == "079190")  # EMW: O/H/L "0", volume 0
    assert (halted.open, halted.high, halted.low, halted.close, halted.volume) == (2780, 2780, 2780, 2780, 0)


def test_negative_change_and_commas() -> None:
    batch = parse_data_daily_prices({"OutBlock_1": [_data_row()]}, day=date(2024, 1, 5), markets=BOTH)
    record = batch.records[0]
    assert (record.change, record.change_rate, record.value) == (-1000, -1.29, 843_000_000_000)


def test_dash_rows_are_unpublished_not_zero() -> None:
    dashes = {k: "-" for k in ("TDD_CLSPRC", "TDD_OPNPRC", "TDD_HGPRC", "TDD_LWPRC", "ACC_TRDVOL", "FLUC_RT")}
    payload = {"OutBlock_1": [_data_row(**dashes), _data_row(ISU_SRT_CD="000660", ISU_ABBRV="SK하이닉스")]}
    batch = parse_data_daily_prices(payload, day=date(2024, 1, 5), markets=BOTH)
    assert [r.code for r in batch.records] == ["000660"]
    assert batch.unpublished == ["005930"]


def test_malformed_rows_are_rejected_with_their_raw_values_and_the_rest_kept() -> None:
    bad_number = _data_row(ISU_SRT_CD="000001", TDD_CLSPRC="7O,000")
    missing_field = _data_row(ISU_SRT_CD="000002")
    del missing_field["ACC_TRDVOL"]
    bad_code = _data_row(ISU_SRT_CD="12345")
    bad_market = _data_row(ISU_SRT_CD="000003", MKT_NM="NASDAQ", MKT_ID="NAS")
    inconsistent = _data_row(ISU_SRT_CD="000004", TDD_HGPRC="70,000")  # high below close
    payload = {"OutBlock_1": [bad_number, missing_field, bad_code, bad_market, inconsistent, "junk", _data_row()]}
    batch = parse_data_daily_prices(payload, day=date(2024, 1, 5), markets=BOTH)
    assert [r.code for r in batch.records] == ["005930"]
    assert len(batch.rejected) == 6
    assert batch.rejected[0].raw["TDD_CLSPRC"] == "7O,000"
    assert "ACC_TRDVOL is missing" in batch.rejected[1].reason


def test_empty_day_gives_an_empty_batch() -> None:
    batch = parse_data_daily_prices({"OutBlock_1": [], "CURRENT_DATETIME": "x"}, day=date(2024, 1, 5), markets=BOTH)
    assert not batch.records and not batch.rejected


def test_payload_without_the_result_key_is_an_error() -> None:
    with pytest.raises(KrxError, match="OutBlock_1"):
        parse_data_daily_prices({"error": "x"}, day=date(2024, 1, 5), markets=BOTH)


def test_recorded_listing_maps_kosdaq_global_to_kosdaq(krx_payload: Callable[[str], Any]) -> None:
    batch = parse_data_listing(krx_payload("MDCSTAT01901_ALL"), markets=BOTH)
    assert len(batch.records) == 2882 - 109
    posco_mtech = next(r for r in batch.records if r.code == "009520")
    assert posco_mtech.market is Market.KOSDAQ
    assert posco_mtech.sector == "우량기업부"
    assert posco_mtech.listed_on == date(1997, 11, 10)
    assert posco_mtech.isin == "KR7009520008"
    aj = next(r for r in batch.records if r.code == "095570")
    assert (aj.name, aj.sector) == ("AJ네트웍스", None)


def test_openapi_trade_rows_have_plain_numbers_and_short_codes() -> None:
    payload = {"OutBlock_1": [
        {"BAS_DD": "20240105", "ISU_CD": "095570", "ISU_NM": "AJ네트웍스", "MKT_NM": "KOSPI", "SECT_TP_NM": "-",
         "TDD_CLSPRC": "5280", "CMPPREVDD_PRC": "60", "FLUC_RT": "1.15", "TDD_OPNPRC": "5270", "TDD_HGPRC": "5290",
         "TDD_LWPRC": "5070", "ACC_TRDVOL": "410628", "ACC_TRDVAL": "2137622110", "MKTCAP": "238934567520",
         "LIST_SHRS": "45252759"},
        {"BAS_DD": "20240104", "ISU_CD": "000020", "ISU_NM": "동화약품", "TDD_CLSPRC": "1"},
    ]}  # fmt: skip
    batch = parse_openapi_daily_prices(payload, day=date(2024, 1, 5), market=Market.KOSPI)
    [record] = batch.records
    assert (record.code, record.name, record.isin, record.close, record.change) == (
        "095570",
        "AJ네트웍스",
        None,
        5280,
        60,
    )
    assert "not the requested day" in batch.rejected[0].reason


def test_openapi_listing_takes_the_endpoint_market() -> None:
    payload = {"OutBlock_1": [
        {"ISU_CD": "KR7095570008", "ISU_SRT_CD": "095570", "ISU_NM": "AJ네트웍스보통주", "ISU_ABBRV": "AJ네트웍스",
         "LIST_DD": "20150821", "MKT_TP_NM": "KOSPI", "SECT_TP_NM": "-"}
    ]}  # fmt: skip
    [record] = parse_openapi_listing(payload, market=Market.KOSPI).records
    assert (record.code, record.isin, record.sector, record.listed_on) == (
        "095570",
        "KR7095570008",
        None,
        date(2015, 8, 21),
    )


def _response(status: int, text: str) -> httpx.Response:
    return httpx.Response(status, text=text, headers={"Content-Type": "text/html; charset=utf-8"})


def test_json_in_a_text_html_body_is_parsed() -> None:
    assert decode_krx_body(_response(200, '{"OutBlock_1": []}'), what="x") == {"OutBlock_1": []}


@pytest.mark.parametrize("status", [200, 400, 404])
def test_logout_body_means_the_session_is_gone(status: int) -> None:
    with pytest.raises(KrxSessionExpiredError):
        decode_krx_body(_response(status, "LOGOUT"), what="MDCSTAT01501")


def test_open_api_key_refusal_is_an_auth_error() -> None:
    with pytest.raises(KrxAuthError):
        decode_krx_body(_response(401, '{"respMsg": "Unauthorized Key"}'), what="stk_bydd_trd")


def test_html_error_page_is_a_clear_error() -> None:
    with pytest.raises(KrxError, match="non-JSON"):
        decode_krx_body(_response(200, "<html>maintenance</html>"), what="x")
