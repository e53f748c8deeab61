"""KRX data portal (login, LOGOUT, reports) and KRX Open API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from sandbox.server import SandboxServer
from sandbox.trading_calendar import KST

DATA = "/comm/bldAttendant/getJsonData.cmd"
LOGIN = "/contents/MDC/COMS/client/MDCCOMS001D1.cmd"
DAILY = "dbms/MDC/STAT/standard/MDCSTAT01501"
LISTING = "dbms/MDC/STAT/standard/MDCSTAT01901"
HISTORY = "dbms/MDC/STAT/standard/MDCSTAT01701"


def login(client: httpx.Client, **extra: str) -> dict[str, str]:
    client.get("/contents/MDC/COMS/client/MDCCOMS001.cmd")
    client.get("/contents/MDC/COMS/client/view/login.jsp", params={"site": "mdc"})
    form = {"mbrNm": "", "telNo": "", "di": "", "certType": "", "mbrId": "demo", "pw": "demo-pw", **extra}
    response = client.post(LOGIN, data=form)
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    return body


def report(client: httpx.Client, bld: str, **form: str) -> httpx.Response:
    return client.post(DATA, data={"bld": bld, **form})


def test_reports_need_a_logged_in_session(client: httpx.Client) -> None:
    response = report(client, DAILY, mktId="ALL", trdDd="20240105")
    assert response.status_code == 400
    assert response.text == "LOGOUT"
    assert response.headers["content-type"].startswith("text/html")
    client.get("/contents/MDC/COMS/client/MDCCOMS001.cmd")  # a session cookie alone is not enough
    assert report(client, DAILY, mktId="ALL", trdDd="20240105").text == "LOGOUT"


def test_login_flow_and_daily_report(client: httpx.Client) -> None:
    assert login(client)["_error_code"] == "CD001"
    assert "JSESSIONID" in client.cookies
    response = report(client, DAILY, mktId="STK", trdDd="20240102")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    body = response.json()
    assert body["CURRENT_DATETIME"] == "2024.01.05 PM 04:00:00"
    rows = {row["ISU_SRT_CD"]: row for row in body["OutBlock_1"]}
    assert len(rows) == 30 and all(row["MKT_ID"] == "STK" for row in rows.values())
    samsung = rows["005930"]
    assert samsung == {
        "ISU_SRT_CD": "005930",
        "ISU_CD": "KR7005930003",
        "ISU_ABBRV": "삼성전자",
        "MKT_NM": "KOSPI",
        "SECT_TP_NM": "",
        "TDD_CLSPRC": "79,600",
        "FLUC_TP_CD": "1",
        "CMPPREVDD_PRC": "1,100",
        "FLUC_RT": "1.40",
        "TDD_OPNPRC": "78,200",
        "TDD_HGPRC": "79,800",
        "TDD_LWPRC": "78,200",
        "ACC_TRDVOL": "17,142,847",
        "ACC_TRDVAL": "1,356,958,225,913",
        "MKTCAP": "475,194,690,980,000",
        "LIST_SHRS": "5,969,782,550",
        "MKT_ID": "STK",
    }
    names = [row["ISU_ABBRV"] for row in body["OutBlock_1"]]
    assert names == sorted(names)  # KRX lists by name
    everything = report(client, DAILY, mktId="ALL", trdDd="20240102").json()["OutBlock_1"]
    assert {row["MKT_ID"] for row in everything} == {"STK", "KSQ"} and len(everything) == 40


def test_older_real_day_from_the_thirty_stock_table(client: httpx.Client) -> None:
    login(client)
    rows = report(client, DAILY, mktId="STK", trdDd="20210104").json()["OutBlock_1"]
    samsung = next(row for row in rows if row["ISU_SRT_CD"] == "005930")
    assert (samsung["TDD_CLSPRC"], samsung["CMPPREVDD_PRC"], samsung["ACC_TRDVOL"]) == ("83,000", "2,000", "38,655,276")


def test_holidays_return_every_row_with_dashes(client: httpx.Client) -> None:
    login(client)
    for day in ("20240210", "20240209", "20240101"):  # Saturday, 설날, New Year's Day
        rows = report(client, DAILY, mktId="ALL", trdDd=day).json()["OutBlock_1"]
        assert len(rows) == 40
        for row in rows:
            for field in ("TDD_CLSPRC", "CMPPREVDD_PRC", "FLUC_RT", "TDD_OPNPRC", "TDD_HGPRC", "TDD_LWPRC",
                          "ACC_TRDVOL", "ACC_TRDVAL", "MKTCAP"):  # fmt: skip
                assert row[field] == "-"
            assert row["LIST_SHRS"] != "-"


def test_days_after_the_clock_have_no_prices_yet(srv: SandboxServer, client: httpx.Client) -> None:
    login(client)
    future = report(client, DAILY, mktId="STK", trdDd="20240108").json()["OutBlock_1"]
    assert future and all(row["TDD_CLSPRC"] == "-" for row in future)
    srv.set_clock(datetime(2024, 1, 5, 8, 0, tzinfo=KST))
    login(client)  # moving the clock by hours ended the session
    today = report(client, DAILY, mktId="STK", trdDd="20240105").json()["OutBlock_1"]
    assert all(row["TDD_CLSPRC"] == "-" for row in today)


def test_history_is_newest_first_with_slashed_dates(client: httpx.Client) -> None:
    login(client)
    body = report(client, HISTORY, isuCd="KR7005930003", strtDd="20231220", endDd="20240110", adjStkPrc="2").json()
    rows = body["output"]
    assert [row["TRD_DD"] for row in rows] == [
        "2024/01/05", "2024/01/04", "2024/01/03", "2024/01/02", "2023/12/28",
        "2023/12/27", "2023/12/26", "2023/12/22", "2023/12/21", "2023/12/20",
    ]  # fmt: skip
    assert rows[3]["TDD_CLSPRC"] == "79,600"
    assert set(rows[0]) == {"TRD_DD", "TDD_CLSPRC", "FLUC_TP_CD", "CMPPREVDD_PRC", "FLUC_RT", "TDD_OPNPRC",
                            "TDD_HGPRC", "TDD_LWPRC", "ACC_TRDVOL", "ACC_TRDVAL", "MKTCAP", "LIST_SHRS"}  # fmt: skip
    assert report(client, HISTORY, isuCd="005930", strtDd="20240101", endDd="20240105").json()["output"] == []


def test_listing_uses_recorded_rows(client: httpx.Client) -> None:
    login(client)
    rows = report(client, LISTING, mktId="KSQ").json()["OutBlock_1"]
    assert len(rows) == 10
    ecopro = next(row for row in rows if row["ISU_SRT_CD"] == "247540")
    assert ecopro["ISU_CD"] == "KR7247540008"
    assert ecopro["MKT_TP_NM"] == "KOSDAQ GLOBAL" and ecopro["SECT_TP_NM"] == "우량기업부"
    assert ecopro["LIST_DD"] == "2019/03/05"
    everything = report(client, LISTING, mktId="ALL").json()["OutBlock_1"]
    assert len(everything) == 40


def test_wrong_password_and_duplicate_login(srv: SandboxServer, open_client: Callable[..., httpx.Client]) -> None:
    with open_client(srv.base_url) as first, open_client(srv.base_url) as second:
        bad = first.post(LOGIN, data={"mbrId": "demo", "pw": "nope"}).json()
        assert bad["_error_code"] not in ("CD001", "CD011") and bad["_error_message"]
        assert login(first)["_error_code"] == "CD001"
        assert login(second)["_error_code"] == "CD011"
        assert report(second, DAILY, mktId="STK", trdDd="20240105").text == "LOGOUT"
        assert login(second, skipDup="Y")["_error_code"] == "CD001"
        assert report(second, DAILY, mktId="STK", trdDd="20240105").status_code == 200
        assert report(first, DAILY, mktId="STK", trdDd="20240105").text == "LOGOUT"  # kicked out


def test_sessions_last_an_hour(srv: SandboxServer, client: httpx.Client) -> None:
    login(client)
    srv.set_clock(datetime(2024, 1, 5, 16, 59, tzinfo=KST))
    assert report(client, DAILY, mktId="STK", trdDd="20240105").status_code == 200
    srv.set_clock(datetime(2024, 1, 5, 16, 0, tzinfo=KST) + timedelta(hours=1, seconds=1))
    assert report(client, DAILY, mktId="STK", trdDd="20240105").text == "LOGOUT"
    assert login(client)["_error_code"] == "CD001"  # the expired session is no duplicate


def test_open_api_daily_trades(client: httpx.Client) -> None:
    key = {"AUTH_KEY": "sandbox-krx-key"}
    body = client.get("/svc/apis/sto/stk_bydd_trd", params={"basDd": "20240104"}, headers=key).json()
    samsung = next(row for row in body["OutBlock_1"] if row["ISU_CD"] == "005930")
    assert samsung["BAS_DD"] == "20240104" and samsung["ISU_NM"] == "삼성전자"
    assert samsung["TDD_CLSPRC"] == "76600" and "," not in samsung["ACC_TRDVAL"]
    kosdaq = client.get("/svc/apis/sto/ksq_bydd_trd", params={"basDd": "20240104"}, headers=key).json()["OutBlock_1"]
    assert len(kosdaq) == 10 and {row["MKT_NM"] for row in kosdaq} == {"KOSDAQ"}
    info = client.get("/svc/apis/sto/ksq_isu_base_info", params={"basDd": "20240104"}, headers=key).json()
    ecopro = next(row for row in info["OutBlock_1"] if row["ISU_SRT_CD"] == "247540")
    assert ecopro["ISU_CD"] == "KR7247540008" and ecopro["LIST_DD"] == "20190305" and "," not in ecopro["LIST_SHRS"]
    assert client.get("/svc/apis/sto/knx_bydd_trd", params={"basDd": "20240104"}, headers=key).json() == {
        "OutBlock_1": []
    }  # no KONEX stock in the default universe
    via_query = client.get("/svc/apis/sto/stk_bydd_trd", params={"basDd": "20240104", "AUTH_KEY": "sandbox-krx-key"})
    assert via_query.status_code == 200 and via_query.json()["OutBlock_1"]


def test_open_api_publishes_next_morning_and_skips_holidays(srv: SandboxServer, client: httpx.Client) -> None:
    key = {"AUTH_KEY": "sandbox-krx-key"}
    assert client.get("/svc/apis/sto/stk_bydd_trd", params={"basDd": "20240105"}, headers=key).json() == {
        "OutBlock_1": []
    }
    srv.set_clock(datetime(2024, 1, 6, 8, 0, tzinfo=KST))
    assert client.get("/svc/apis/sto/stk_bydd_trd", params={"basDd": "20240105"}, headers=key).json()["OutBlock_1"]
    srv.set_clock(datetime(2024, 2, 14, 9, 0, tzinfo=KST))
    assert client.get("/svc/apis/sto/stk_bydd_trd", params={"basDd": "20240209"}, headers=key).json() == {
        "OutBlock_1": []
    }


def test_open_api_errors(client: httpx.Client) -> None:
    missing = client.get("/svc/apis/sto/stk_bydd_trd", params={"basDd": "20240104"})
    assert missing.status_code == 401
    assert missing.json() == {"respMsg": "Unauthorized Key", "respCode": "401"}
    wrong = client.get("/svc/apis/sto/stk_bydd_trd", params={"basDd": "20240104"}, headers={"AUTH_KEY": "x"})
    assert wrong.status_code == 401
    unknown = client.get("/svc/apis/sto/zzz_bydd_trd", headers={"AUTH_KEY": "sandbox-krx-key"})
    assert unknown.status_code == 404 and unknown.json()["respCode"] == "404"


def test_portal_prices_appear_at_the_close(srv: SandboxServer, client: httpx.Client) -> None:
    srv.set_clock(datetime(2024, 1, 5, 11, 0, tzinfo=KST))
    login(client)
    midday = report(client, DAILY, mktId="STK", trdDd="20240105").json()["OutBlock_1"]
    assert midday and all(row["TDD_CLSPRC"] == "-" for row in midday)
    history = report(client, HISTORY, isuCd="KR7005930003", strtDd="20240101", endDd="20240105").json()["output"]
    assert [row["TRD_DD"] for row in history] == ["2024/01/04", "2024/01/03", "2024/01/02"]
    srv.set_clock(datetime(2024, 1, 5, 15, 30, tzinfo=KST))
    login(client)
    closed = report(client, DAILY, mktId="STK", trdDd="20240105").json()["OutBlock_1"]
    assert next(row for row in closed if row["ISU_SRT_CD"] == "005930")["TDD_CLSPRC"] == "76,600"
