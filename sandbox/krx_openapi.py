"""KRX Open API (data-dbg.krx.co.kr): key-authenticated end-of-day stock data, one day per call.

Unlike the data portal, numbers carry no thousands separators, ``ISU_CD`` is the short code in
the daily reports, and a day's data is published the next morning (08:00 KST); a holiday or a
day not yet published answers an empty ``OutBlock_1``.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sandbox.clock import SandboxClock
from sandbox.krx import listed_on, parse_day
from sandbox.market import Market
from sandbox.trading_calendar import KST
from sandbox.wire import Request, Response

PREFIX = "/svc/apis/"
_MARKETS = {"stk": "STK", "ksq": "KSQ", "knx": "KNX"}
_PUBLISHED_AT = time(8, 0)  # next day


def _error(status: int, message: str) -> Response:
    return Response.json({"respMsg": message, "respCode": str(status)}, status)


class KrxOpenApi:
    def __init__(self, market: Market, clock: SandboxClock, auth_key: str) -> None:
        self.market = market
        self.clock = clock
        self.auth_key = auth_key

    def handle(self, req: Request) -> Response | None:
        if not req.path.startswith(PREFIX):
            return None
        name = req.path.removeprefix(PREFIX).removesuffix(".json")
        category, _, endpoint = name.partition("/")
        market, _, kind = endpoint.partition("_")
        if category != "sto" or market not in _MARKETS or kind not in ("bydd_trd", "isu_base_info"):
            return _error(404, f"[{req.path.lstrip('/')}] API referenced by the path does not exist.")
        key = req.header("AUTH_KEY") or req.param("AUTH_KEY")
        if key != self.auth_key:
            return _error(401, "Unauthorized Key")
        day = parse_day(req.param("basDd"))
        now = self.clock.now()
        if day is None or now < datetime.combine(day + timedelta(days=1), _PUBLISHED_AT, KST):
            return Response.json({"OutBlock_1": []})
        market_id = _MARKETS[market]
        stocks = [s for s in self.market.universe.in_market(market_id) if listed_on(s, day)]
        if kind == "isu_base_info":
            return Response.json({"OutBlock_1": [self._base_info(s.listing) for s in stocks]})
        rows = []
        for stock in stocks:
            bar = self.market.bar(stock.code, day)
            if bar is None:
                continue  # holiday: the whole block is empty
            rows.append({
                "BAS_DD": day.strftime("%Y%m%d"),
                "ISU_CD": stock.code,
                "ISU_NM": stock.name,
                "MKT_NM": stock.market_name,
                "SECT_TP_NM": stock.dept or "-",
                "TDD_CLSPRC": str(bar.close),
                "CMPPREVDD_PRC": str(bar.change),
                "FLUC_RT": f"{bar.change_rate:.2f}",
                "TDD_OPNPRC": str(bar.open),
                "TDD_HGPRC": str(bar.high),
                "TDD_LWPRC": str(bar.low),
                "ACC_TRDVOL": str(bar.volume),
                "ACC_TRDVAL": str(bar.amount),
                "MKTCAP": str(bar.close * stock.shares),
                "LIST_SHRS": str(stock.shares),
            })  # fmt: skip
        return Response.json({"OutBlock_1": rows})

    @staticmethod
    def _base_info(listing: dict[str, str]) -> dict[str, str]:
        row = dict(listing)
        row["LIST_DD"] = row["LIST_DD"].replace("/", "")
        row["PARVAL"] = row["PARVAL"].replace(",", "")
        row["LIST_SHRS"] = row["LIST_SHRS"].replace(",", "")
        return row
