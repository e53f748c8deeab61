"""KRX data portal (data.krx.co.kr): the members-only login flow and ``getJsonData.cmd`` reports.

Since the 2026 "Data Marketplace" change the JSON endpoint answers ``LOGOUT`` (HTTP 400, plain
text) unless the JSESSIONID cookie belongs to a logged-in member; sessions last one hour.
Report values are strings with thousands separators and ``-`` for "no value", served as
``text/html`` exactly like the real site. Reports are end-of-day: a session's prices appear
once it has closed (15:30 KST); before that, and on holidays, the rows carry ``-``.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime

from sandbox.clock import SandboxClock
from sandbox.market import Bar, Market
from sandbox.universe import Stock
from sandbox.wire import Request, Response

DATA_PATH = "/comm/bldAttendant/getJsonData.cmd"
LOGIN_PAGE = "/contents/MDC/COMS/client/MDCCOMS001.cmd"
LOGIN_JSP = "/contents/MDC/COMS/client/view/login.jsp"
LOGIN_POST = "/contents/MDC/COMS/client/MDCCOMS001D1.cmd"
SESSION_SECONDS = 3600

_HTML = "text/html; charset=utf-8"
_MISSING = "-"
_PRICE_FIELDS = ("TDD_CLSPRC", "CMPPREVDD_PRC", "FLUC_RT", "TDD_OPNPRC", "TDD_HGPRC", "TDD_LWPRC",
                 "ACC_TRDVOL", "ACC_TRDVAL", "MKTCAP")  # fmt: skip


def commas(value: int) -> str:
    return f"{value:,}"


def fluc_code(bar: Bar, upper: int | None = None, lower: int | None = None) -> str:
    """FLUC_TP_CD: 1 up, 2 down, 3 unchanged, 4 upper limit, 5 lower limit, 0 halted."""
    if bar.open == 0 and bar.volume == 0:
        return "0"
    if upper is not None and bar.close >= upper and bar.change > 0:
        return "4"
    if lower is not None and bar.close <= lower and bar.change < 0:
        return "5"
    return "1" if bar.change > 0 else "2" if bar.change < 0 else "3"


def current_datetime(now: datetime) -> str:
    """CURRENT_DATETIME as KRX writes it: ``2024.01.05 PM 06:00:00``."""
    return now.strftime("%Y.%m.%d %p %I:%M:%S")


def parse_day(text: str | None) -> date | None:
    if not text or len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def listed_on(stock: Stock, day: date) -> bool:
    if stock.listed_from is not None and day < stock.listed_from:
        return False
    return stock.delisted_after is None or day <= stock.delisted_after


@dataclass(slots=True)
class _Session:
    member: str | None = None
    login_wall: float = 0.0
    login_clock: datetime | None = None


class KrxDataPortal:
    def __init__(self, market: Market, clock: SandboxClock, member: tuple[str, str]) -> None:
        self.market = market
        self.clock = clock
        self.member_id, self.member_pw = member
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._live: dict[str, str] = {}  # member -> the JSESSIONID logged in as that member

    def reset(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._live.clear()

    def handle(self, req: Request) -> Response | None:
        if req.path == DATA_PATH and req.method == "POST":
            return self._data(req)
        if req.path in (LOGIN_PAGE, LOGIN_JSP) and req.method == "GET":
            return self._page(req)
        if req.path == LOGIN_POST and req.method == "POST":
            return self._login(req)
        return None

    # ---- sessions -----------------------------------------------------------------------
    def _session_for(self, req: Request) -> tuple[str, _Session, bool]:
        """The request's session (created when the cookie is missing or unknown)."""
        sid = req.cookies().get("JSESSIONID", "")
        with self._lock:
            session = self._sessions.get(sid)
            if session is not None:
                return sid, session, False
            sid = secrets.token_hex(16).upper() + ".mdcweb"
            session = _Session()
            self._sessions[sid] = session
            return sid, session, True

    def _expired(self, session: _Session) -> bool:
        if session.member is None or session.login_clock is None:
            return True
        if time.monotonic() - session.login_wall >= SESSION_SECONDS:
            return True
        # Moving the sandbox clock by an hour or more also ends the session: a replayed day
        # re-logs in like a real one.
        return abs((self.clock.now() - session.login_clock).total_seconds()) >= SESSION_SECONDS

    @staticmethod
    def _cookie(sid: str) -> tuple[str, str]:
        return ("Set-Cookie", f"JSESSIONID={sid}; Path=/; HttpOnly")

    def _page(self, req: Request) -> Response:
        sid, _, created = self._session_for(req)
        headers = [self._cookie(sid)] if created else []
        return Response.text("<!DOCTYPE html><html><body>KRX Data Marketplace</body></html>",
                             content_type=_HTML, headers=headers)  # fmt: skip

    def _login(self, req: Request) -> Response:
        sid, session, created = self._session_for(req)
        headers = [self._cookie(sid)] if created else []
        form = req.form()
        member, password = form.get("mbrId", ""), form.get("pw", "")
        if member != self.member_id or password != self.member_pw:
            body = {"_error_code": "CD002", "_error_message": "아이디 또는 비밀번호가 일치하지 않습니다."}
            return Response.json(body, content_type="application/json;charset=UTF-8", headers=headers)
        with self._lock:
            other_sid = self._live.get(member)
            other = self._sessions.get(other_sid) if other_sid else None
            if other is not None and other_sid != sid and not self._expired(other):
                if form.get("skipDup") != "Y":
                    body = {
                        "_error_code": "CD011",
                        "_error_message": "이미 로그인된 사용자입니다. 기존 접속을 종료하시겠습니까?",
                    }
                    return Response.json(body, content_type="application/json;charset=UTF-8", headers=headers)
                other.member = None  # the older session is logged out
            session.member = member
            session.login_wall = time.monotonic()
            session.login_clock = self.clock.now()
            self._live[member] = sid
        body = {"_error_code": "CD001", "_error_message": "정상적으로 로그인되었습니다.", "MBR_NO": "M0000001",
                "MBR_ID": member}  # fmt: skip
        return Response.json(body, content_type="application/json;charset=UTF-8", headers=headers)

    # ---- reports ------------------------------------------------------------------------
    def _data(self, req: Request) -> Response:
        sid = req.cookies().get("JSESSIONID", "")
        with self._lock:
            session = self._sessions.get(sid)
        if session is None or self._expired(session):
            return Response.text("LOGOUT", 400, content_type=_HTML)
        form = req.form()
        bld = form.get("bld", "")
        now = self.clock.now()
        if bld.endswith("MDCSTAT01501"):
            payload: dict[str, object] = {"OutBlock_1": self._daily(form.get("mktId", "ALL"), form.get("trdDd"), now)}
        elif bld.endswith("MDCSTAT01901"):
            payload = {"OutBlock_1": self._listing(form.get("mktId", "ALL"), now)}
        elif bld.endswith("MDCSTAT01701"):
            payload = {"output": self._history(form, now)}
        elif bld == "dbms/comm/finder/finder_stkisu":
            payload = {"block1": self._finder(form.get("mktsel", "ALL"), form.get("searchText", ""), now)}
        else:
            return Response.text("<html><body>잘못된 요청입니다.</body></html>", 400, content_type=_HTML)
        payload["CURRENT_DATETIME"] = current_datetime(now)
        return Response.json(payload, content_type=_HTML)

    def _stocks(self, market_id: str) -> tuple[Stock, ...]:
        return self.market.universe.in_market(market_id if market_id in ("STK", "KSQ", "KNX") else "ALL")

    def _daily(self, market_id: str, trd_dd: str | None, now: datetime) -> list[dict[str, str]]:
        day = parse_day(trd_dd)
        if day is None:
            return []
        rows: list[dict[str, str]] = []
        for stock in self._stocks(market_id):
            if not listed_on(stock, day):
                continue
            bar = self.market.closed_bar(stock.code, day, now)
            row = {
                "ISU_SRT_CD": stock.code,
                "ISU_CD": stock.isin,
                "ISU_ABBRV": stock.name,
                "MKT_NM": stock.market_name,
                "SECT_TP_NM": stock.dept,
            }
            if bar is None:  # holiday, or a day the portal has no prices for yet
                row.update({"TDD_CLSPRC": _MISSING, "FLUC_TP_CD": "3"})
                row.update({field: _MISSING for field in _PRICE_FIELDS if field != "TDD_CLSPRC"})
            else:
                row.update(self._price_fields(stock, bar))
            row["LIST_SHRS"] = commas(stock.shares)
            row["MKT_ID"] = stock.market_id
            rows.append(self._ordered(row))
        return rows

    @staticmethod
    def _ordered(row: dict[str, str]) -> dict[str, str]:
        order = ("ISU_SRT_CD", "ISU_CD", "ISU_ABBRV", "MKT_NM", "SECT_TP_NM", "TDD_CLSPRC", "FLUC_TP_CD",
                 "CMPPREVDD_PRC", "FLUC_RT", "TDD_OPNPRC", "TDD_HGPRC", "TDD_LWPRC", "ACC_TRDVOL",
                 "ACC_TRDVAL", "MKTCAP", "LIST_SHRS", "MKT_ID")  # fmt: skip
        return {key: row[key] for key in order}

    @staticmethod
    def _price_fields(stock: Stock, bar: Bar) -> dict[str, str]:
        from sandbox.ticks import limit_prices

        upper, lower = limit_prices(bar.prev_close)
        return {
            "TDD_CLSPRC": commas(bar.close),
            "FLUC_TP_CD": fluc_code(bar, upper, lower),
            "CMPPREVDD_PRC": commas(bar.change),
            "FLUC_RT": f"{bar.change_rate:.2f}",
            "TDD_OPNPRC": commas(bar.open),
            "TDD_HGPRC": commas(bar.high),
            "TDD_LWPRC": commas(bar.low),
            "ACC_TRDVOL": commas(bar.volume),
            "ACC_TRDVAL": commas(bar.amount),
            "MKTCAP": commas(bar.close * stock.shares),
        }

    def _listing(self, market_id: str, now: datetime) -> list[dict[str, str]]:
        stocks = [s for s in self._stocks(market_id) if listed_on(s, now.date())]
        return [dict(s.listing) for s in sorted(stocks, key=lambda s: (s.listing["ISU_NM"], s.code))]

    def _history(self, form: dict[str, str], now: datetime) -> list[dict[str, str]]:
        stock = self.market.universe.by_isin(form.get("isuCd", ""))
        start, end = parse_day(form.get("strtDd")), parse_day(form.get("endDd"))
        if stock is None or start is None or end is None:
            return []
        end = min(end, now.date())
        rows: list[dict[str, str]] = []
        for day in reversed(self.market.calendar.between(start, end)):
            bar = self.market.closed_bar(stock.code, day, now)
            if bar is None:
                continue
            fields = self._price_fields(stock, bar)
            rows.append({
                "TRD_DD": day.strftime("%Y/%m/%d"),
                **{key: fields[key] for key in ("TDD_CLSPRC", "FLUC_TP_CD", "CMPPREVDD_PRC", "FLUC_RT",
                                                "TDD_OPNPRC", "TDD_HGPRC", "TDD_LWPRC", "ACC_TRDVOL",
                                                "ACC_TRDVAL", "MKTCAP")},
                "LIST_SHRS": commas(stock.shares),
            })  # fmt: skip
        return rows

    def _finder(self, market: str, text: str, now: datetime) -> list[dict[str, str]]:
        names = {"STK": ("유가증권", "KOSPI"), "KSQ": ("코스닥", "KOSDAQ"), "KNX": ("코넥스", "KONEX")}
        out = []
        for stock in self._stocks(market):
            if not listed_on(stock, now.date()) or (text and text not in stock.name and text not in stock.code):
                continue
            kor, eng = names[stock.market_id]
            out.append({"full_code": stock.isin, "short_code": stock.code, "codeName": stock.name,
                        "marketCode": stock.market_id, "marketName": kor, "marketEngName": eng,
                        "ord1": "", "ord2": ""})  # fmt: skip
        return out
