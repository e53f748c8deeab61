"""KIS: token issuance rules, quotations, and the gateway's error envelopes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from sandbox.server import SandboxServer
from sandbox.trading_calendar import KST
from sandbox.wire import Request

TOKEN = "/oauth2/tokenP"
PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"
CHART = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"
APP = {"appkey": "sandbox-app-key", "appsecret": "sandbox-app-secret"}


def issue(client: httpx.Client, **overrides: str) -> httpx.Response:
    return client.post(TOKEN, json={"grant_type": "client_credentials", **APP, **overrides})


def headers(token: str, tr_id: str = "FHKST01010100") -> dict[str, str]:
    return {"authorization": f"Bearer {token}", **APP, "tr_id": tr_id, "custtype": "P",
            "content-type": "application/json; charset=utf-8"}  # fmt: skip


def price(client: httpx.Client, token: str, code: str = "005930", **extra: str) -> httpx.Response:
    params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code}
    return client.get(PRICE, params=params, headers={**headers(token), **extra})


def test_token_is_issued_once_a_minute_and_reused_for_six_hours(srv: SandboxServer, client: httpx.Client) -> None:
    first = issue(client)
    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400
    assert body["access_token_token_expired"] == "2024-01-06 16:00:00"
    again = issue(client)
    assert again.status_code == 403
    assert again.json() == {
        "error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)",
        "error_code": "EGW00133",
    }
    srv.set_clock(datetime(2024, 1, 5, 18, 0, tzinfo=KST))  # two hours later: same token
    later = issue(client).json()
    assert later["access_token"] == body["access_token"]
    assert later["expires_in"] == 86400 - 7200
    srv.set_clock(datetime(2024, 1, 5, 22, 30, tzinfo=KST))  # past six hours: a new one
    assert issue(client).json()["access_token"] != body["access_token"]


def test_token_request_errors(client: httpx.Client) -> None:
    assert issue(client, appkey="nope").json()["error_code"] == "EGW00103"
    assert issue(client, appsecret="nope").json()["error_code"] == "EGW00105"
    assert issue(client, grant_type="password").status_code == 403


def test_current_price_after_the_close(client: httpx.Client) -> None:
    token = issue(client).json()["access_token"]
    response = price(client, token)
    assert response.status_code == 200
    body = response.json()
    assert (body["rt_cd"], body["msg_cd"]) == ("0", "MCA00000")
    out = body["output"]
    assert out["stck_shrn_iscd"] == "005930"
    assert out["stck_prpr"] == "76600" and out["stck_sdpr"] == "76600"  # 2024-01-05 closed flat
    assert out["prdy_vrss"] == "0" and out["prdy_vrss_sign"] == "3" and out["prdy_ctrt"] == "0.00"
    assert out["stck_mxpr"] == "99500" and out["stck_llam"] == "53700"
    assert out["aspr_unit"] == "100" and out["lstn_stcn"] == "5969782550"
    assert all(isinstance(value, str) and "," not in value for value in out.values())
    assert float(out["per"]) > 0 and int(out["w52_hgpr"]) >= int(out["w52_lwpr"])
    assert response.headers["tr_id"] == "FHKST01010100"


def test_intraday_price_follows_the_clock(srv: SandboxServer, client: httpx.Client) -> None:
    token = issue(client).json()["access_token"]
    seen = []
    for hour, minute in ((9, 5), (11, 0), (13, 30), (15, 10)):
        srv.set_clock(datetime(2024, 1, 5, hour, minute, tzinfo=KST))
        out = price(client, token).json()["output"]
        assert int(out["stck_lwpr"]) <= int(out["stck_prpr"]) <= int(out["stck_hgpr"])
        assert out["stck_oprc"] == "76700"
        seen.append(int(out["acml_vol"]))
    assert seen == sorted(seen) and seen[-1] < 11_000_000
    srv.set_clock(datetime(2024, 1, 5, 8, 0, tzinfo=KST))  # before the open: yesterday's final state
    out = price(client, token).json()["output"]
    assert out["stck_prpr"] == "76600" and out["prdy_vrss"] == "-400"


def test_daily_chart_is_capped_at_100_rows_newest_first(client: httpx.Client) -> None:
    token = issue(client).json()["access_token"]
    params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930", "FID_INPUT_DATE_1": "20230101",
              "FID_INPUT_DATE_2": "20240131", "FID_PERIOD_DIV_CODE": "D", "FID_ORG_ADJ_PRC": "0"}  # fmt: skip
    response = client.get(CHART, params=params, headers=headers(token, "FHKST03010100"))
    body = response.json()
    rows = body["output2"]
    assert len(rows) == 100 and response.headers["tr_cont"] == "M"
    dates = [row["stck_bsop_date"] for row in rows]
    assert dates == sorted(dates, reverse=True) and dates[0] == "20240105"  # nothing after the clock
    assert rows[3]["stck_clpr"] == "79600" and rows[3]["stck_bsop_date"] == "20240102"
    assert body["output1"]["hts_kor_isnm"] == "삼성전자" and body["output1"]["stck_prpr"] == "76600"
    short = client.get(
        CHART, params={**params, "FID_INPUT_DATE_1": "20240101"}, headers=headers(token, "FHKST03010100")
    )
    assert len(short.json()["output2"]) == 4 and short.headers["tr_cont"] == "D"
    weekly = client.get(CHART, params={**params, "FID_PERIOD_DIV_CODE": "W", "FID_INPUT_DATE_1": "20231201"},
                        headers=headers(token, "FHKST03010100")).json()["output2"]  # fmt: skip
    assert weekly[0]["stck_bsop_date"] == "20240105" and weekly[0]["stck_oprc"] == "78200"


def test_token_errors_use_the_gateway_envelope(srv: SandboxServer, client: httpx.Client) -> None:
    invalid = price(client, "not-a-token")
    assert invalid.status_code == 500 and invalid.json()["msg_cd"] == "EGW00121"
    token = issue(client).json()["access_token"]
    assert price(client, token, appkey="other").json()["msg_cd"] == "EGW00103"
    wrong_tr = price(client, token, tr_id="FHKST03010100").json()
    assert wrong_tr["rt_cd"] != "0"
    unknown = price(client, token, code="999999").json()
    assert unknown["rt_cd"] != "0"
    srv.set_clock(datetime(2024, 1, 5, 16, 0, tzinfo=KST) + timedelta(hours=24))
    expired = price(client, token)
    assert expired.status_code == 500
    assert expired.json() == {"rt_cd": "1", "msg_cd": "EGW00123", "msg1": "기간이 만료된 token 입니다."}


@pytest.fixture
def slow_kis() -> Iterator[SandboxServer]:
    with SandboxServer(kis_rate_per_second=3, now=datetime(2024, 1, 5, 16, 0, tzinfo=KST)) as server:
        yield server


def test_per_second_rate_limit(slow_kis: SandboxServer, open_client: Callable[..., httpx.Client]) -> None:
    with open_client(slow_kis.base_url) as client:
        token = issue(client).json()["access_token"]
        query = {"FID_COND_MRKT_DIV_CODE": ["J"], "FID_INPUT_ISCD": ["005930"]}
        # In-process, the burst is far inside one second even on a loaded machine.
        burst = [slow_kis.handle(Request("GET", PRICE, query, headers(token))) for _ in range(3)]
        assert [r.status for r in burst] == [200, 200, 200]
        over = price(client, token)  # the fourth within the second, over the wire
    assert over.status_code == 500
    assert over.json() == {"rt_cd": "1", "msg_cd": "EGW00201", "msg1": "초당 거래건수를 초과하였습니다."}
