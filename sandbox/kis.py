"""Korea Investment & Securities Open API: OAuth token issuance and domestic stock quotations.

Reproduces what makes KIS awkward in production: tokens are issued at most once a minute per
appkey (``EGW00133``, HTTP 403) and re-requests within six hours return the same token; tokens
expire after 24 h of *sandbox* time (``EGW00123``); quotations are rate-limited per appkey
(``EGW00201``, HTTP 500). Errors from the gateway always carry ``rt_cd != "0"``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sandbox.clock import SandboxClock
from sandbox.krx import parse_day
from sandbox.market import Bar, Market
from sandbox.ratelimit import SlidingWindow
from sandbox.ticks import limit_prices, tick_size
from sandbox.universe import Stock
from sandbox.wire import Request, Response

TOKEN_PATH = "/oauth2/tokenP"
PRICE_PATH = "/uapi/domestic-stock/v1/quotations/inquire-price"
CHART_PATH = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"
DAILY_PATH = "/uapi/domestic-stock/v1/quotations/inquire-daily-price"
_TR_IDS = {PRICE_PATH: "FHKST01010100", CHART_PATH: "FHKST03010100", DAILY_PATH: "FHKST01010400"}
_JSON = "application/json; charset=UTF-8"
TOKEN_LIFETIME = timedelta(hours=24)
TOKEN_REUSE = timedelta(hours=6)
ISSUE_INTERVAL = 60.0  # seconds between issuances per appkey
CHART_MAX_ROWS = 100


@dataclass(slots=True)
class _Token:
    value: str
    appkey: str
    issued: datetime  # sandbox clock
    expires: datetime


def _fail(msg_cd: str, msg1: str, status: int = 500, rt_cd: str = "1") -> Response:
    return Response.json({"rt_cd": rt_cd, "msg_cd": msg_cd, "msg1": msg1}, status, content_type=_JSON)


def _token_error(code: str, description: str) -> Response:
    """tokenP errors use the OAuth-style body, not the rt_cd envelope."""
    return Response.json({"error_description": description, "error_code": code}, 403, content_type=_JSON)


def _sign(bar: Bar, upper: int, lower: int) -> str:
    """prdy_vrss_sign: 1 upper limit, 2 up, 3 flat, 4 lower limit, 5 down."""
    if bar.change > 0:
        return "1" if bar.close >= upper else "2"
    if bar.change < 0:
        return "4" if bar.close <= lower else "5"
    return "3"


class KisApi:
    def __init__(
        self,
        market: Market,
        clock: SandboxClock,
        app: tuple[str, str],
        rate_per_second: float,
    ) -> None:
        self.market = market
        self.clock = clock
        self.appkey, self.appsecret = app
        self._limiter = SlidingWindow(rate_per_second, 1.0)
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._latest: dict[str, _Token] = {}  # appkey -> newest token
        self._last_issue: dict[str, tuple[float, datetime]] = {}  # appkey -> (monotonic, sandbox time)
        self._serial = 0

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._latest.clear()
            self._last_issue.clear()
        self._limiter.reset()

    def handle(self, req: Request) -> Response | None:
        if req.path == TOKEN_PATH:
            return self._token(req) if req.method == "POST" else None
        if req.path in _TR_IDS and req.method == "GET":
            return self._quotation(req)
        if req.path.startswith("/uapi/"):
            return Response.text("<html><body><h1>404 Not Found</h1></body></html>", 404,
                                 content_type="text/html")  # fmt: skip
        return None

    # ---- token ----------------------------------------------------------------------------
    def _token(self, req: Request) -> Response:
        try:
            body = req.json()
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return _token_error("EGW00002", "잘못된 요청입니다. (JSON 형식 오류)")
        if body.get("grant_type") != "client_credentials":
            return _token_error("EGW00205", "grant_type이 유효하지 않습니다.")
        if body.get("appkey") != self.appkey:
            return _token_error("EGW00103", "유효하지 않은 AppKey입니다.")
        if body.get("appsecret") != self.appsecret:
            return _token_error("EGW00105", "유효하지 않은 AppSecret입니다.")
        now = self.clock.now()
        wall = time.monotonic()
        with self._lock:
            last = self._last_issue.get(self.appkey)
            # Once a minute; a sandbox clock moved on by a minute also counts as time passed.
            if last is not None and wall - last[0] < ISSUE_INTERVAL and abs((now - last[1]).total_seconds()) < 60:
                return _token_error("EGW00133", "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)")
            self._last_issue[self.appkey] = (wall, now)
            token = self._latest.get(self.appkey)
            if token is None or not (token.issued <= now < token.issued + TOKEN_REUSE):
                token = self._issue(now)
        remaining = int((token.expires - now).total_seconds())
        return Response.json(
            {
                "access_token": token.value,
                "access_token_token_expired": token.expires.strftime("%Y-%m-%d %H:%M:%S"),
                "token_type": "Bearer",
                "expires_in": remaining,
            },
            content_type=_JSON,
        )

    def _issue(self, now: datetime) -> _Token:
        """A JWT-shaped opaque token (callers must not parse it)."""
        self._serial += 1
        header = base64.urlsafe_b64encode(b'{"typ":"JWT","alg":"HS512"}').rstrip(b"=").decode()
        claims = {"sub": "token", "aud": self.appkey[:8], "prdt_cd": "", "iss": "unogw", "jti": self._serial,
                  "exp": int((now + TOKEN_LIFETIME).timestamp()), "iat": int(now.timestamp())}  # fmt: skip
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        mac = hmac.new(self.appsecret.encode(), f"{header}.{payload}".encode(), hashlib.sha512).digest()
        value = f"{header}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
        token = _Token(value, self.appkey, now, now + TOKEN_LIFETIME)
        self._tokens[value] = token
        self._latest[self.appkey] = token
        return token

    # ---- quotations -------------------------------------------------------------------------
    def _quotation(self, req: Request) -> Response:
        appkey = req.header("appkey") or ""
        if not self._limiter.allow(appkey):
            return _fail("EGW00201", "초당 거래건수를 초과하였습니다.")
        if appkey != self.appkey:
            return _fail("EGW00103", "유효하지 않은 AppKey입니다.")
        if req.header("appsecret") != self.appsecret:
            return _fail("EGW00105", "유효하지 않은 AppSecret입니다.")
        auth = req.header("authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value:
            return _fail("EGW00205", "credentials_type이 유효하지 않습니다.(Bearer)")
        with self._lock:
            token = self._tokens.get(value.strip())
        if token is None or token.appkey != appkey:
            return _fail("EGW00121", "유효하지 않은 token 입니다.")
        now = self.clock.now()
        if now >= token.expires:
            return _fail("EGW00123", "기간이 만료된 token 입니다.")
        tr_id = req.header("tr_id")
        if tr_id != _TR_IDS[req.path]:
            return _fail("OPSQ0002", "없는 서비스 코드 입니다", status=500)
        if (req.param("FID_COND_MRKT_DIV_CODE") or "").upper() not in ("J", "NX", "UN"):
            return _fail("OPSQ2001", "ERROR : INPUT_FIELD_NAME FID_COND_MRKT_DIV_CODE", status=200, rt_cd="2")
        code = (req.param("FID_INPUT_ISCD") or "").strip()
        stock = self.market.universe.get(code)
        if not code:
            return _fail("OPSQ2001", "ERROR : INPUT_FIELD_NAME FID_INPUT_ISCD", status=200, rt_cd="2")
        quote = self.market.quote(code, now) if stock is not None else None
        if stock is None or quote is None:
            return _fail("KIOK0560", "조회할 자료가 없습니다.", status=200, rt_cd="7")
        headers = [("tr_id", tr_id), ("tr_cont", "D"), ("gt_uid", f"{now:%Y%m%d%H%M%S}{self._serial:08d}")]
        if req.path == PRICE_PATH:
            body = self._ok({"output": self._price_output(stock, quote.bar, now)})
            return Response.json(body, content_type=_JSON, headers=headers)
        return self._chart(req, stock, quote.bar, now, headers)

    @staticmethod
    def _ok(payload: dict[str, object]) -> dict[str, object]:
        return {**payload, "rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다."}

    def _fundamentals(self, stock: Stock) -> tuple[float, float, float]:
        """Stable EPS, BPS and foreign ownership for a stock (values are illustrative)."""
        rng = random.Random(f"{self.market.seed}:{stock.code}:fundamentals")
        series = self.market.series(stock.code)
        ref = series.real_by_index[series.last_index][3]  # the latest real close
        return ref / rng.uniform(6, 35), ref / rng.uniform(0.5, 3.5), rng.uniform(3, 55)

    def _price_output(self, stock: Stock, bar: Bar, now: datetime) -> dict[str, str]:
        upper, lower = limit_prices(bar.prev_close)
        eps, bps, foreign = self._fundamentals(stock)
        history = self.market.bars(stock.code, bar.day - timedelta(days=364), bar.day - timedelta(days=1))
        w52 = [*history, bar]
        high_bar = max(w52, key=lambda b: (b.high or b.close, b.day))
        low_bar = min(w52, key=lambda b: (b.low or b.close, -b.day.toordinal()))
        prev = history[-1] if history else None
        volume_rate = bar.volume / prev.volume * 100 if prev and prev.volume else 0.0
        return {
            "iscd_stat_cls_code": "55",
            "marg_rate": "20.00",
            "rprs_mrkt_kor_name": stock.market_name,
            "bstp_kor_isnm": stock.dept or "-",
            "temp_stop_yn": "Y" if bar.open == 0 and bar.volume == 0 else "N",
            "oprc_rang_cont_yn": "N",
            "clpr_rang_cont_yn": "N",
            "crdt_able_yn": "Y",
            "grmn_rate_cls_code": "40",
            "elw_pblc_yn": "N",
            "stck_prpr": str(bar.close),
            "prdy_vrss": str(bar.change),
            "prdy_vrss_sign": _sign(bar, upper, lower),
            "prdy_ctrt": f"{bar.change_rate:.2f}",
            "acml_tr_pbmn": str(bar.amount),
            "acml_vol": str(bar.volume),
            "prdy_vrss_vol_rate": f"{volume_rate:.2f}",
            "stck_oprc": str(bar.open),
            "stck_hgpr": str(bar.high),
            "stck_lwpr": str(bar.low),
            "stck_mxpr": str(upper),
            "stck_llam": str(lower),
            "stck_sdpr": str(bar.prev_close),
            "wghn_avrg_stck_prc": f"{bar.amount / bar.volume:.2f}" if bar.volume else "0.00",
            "hts_frgn_ehrt": f"{foreign:.2f}",
            "frgn_ntby_qty": "0",
            "pgtr_ntby_qty": "0",
            "w52_hgpr": str(high_bar.high or high_bar.close),
            "w52_hgpr_date": high_bar.day.strftime("%Y%m%d"),
            "w52_lwpr": str(low_bar.low or low_bar.close),
            "w52_lwpr_date": low_bar.day.strftime("%Y%m%d"),
            "stck_shrn_iscd": stock.code,
            "hts_avls": str(bar.close * stock.shares // 100_000_000),
            "per": f"{bar.close / eps:.2f}",
            "pbr": f"{bar.close / bps:.2f}",
            "eps": f"{eps:.2f}",
            "bps": f"{bps:.2f}",
            "stac_month": "12",
            "lstn_stcn": str(stock.shares),
            "aspr_unit": str(tick_size(bar.close)),
            "hts_deal_qty_unit_val": "1",
            "vol_tnrt": f"{bar.volume / stock.shares * 100:.2f}" if stock.shares else "0.00",
            "vi_cls_code": "N",
            "ovtm_vi_cls_code": "N",
            "invt_caful_yn": "N",
            "mrkt_warn_cls_code": "00",
            "short_over_yn": "N",
            "sltr_yn": "N",
        }

    def _chart(
        self, req: Request, stock: Stock, current: Bar, now: datetime, headers: list[tuple[str, str]]
    ) -> Response:
        daily = req.path == DAILY_PATH
        period = (req.param("FID_PERIOD_DIV_CODE") or "D").upper()
        if period not in ("D", "W", "M", "Y"):
            return _fail("OPSQ2001", "ERROR : INPUT_FIELD_NAME FID_PERIOD_DIV_CODE", status=200, rt_cd="2")
        if daily:  # inquire-daily-price: the latest 30 sessions, no date range
            start, end = now.date() - timedelta(days=120), now.date()
        else:
            start_p, end_p = parse_day(req.param("FID_INPUT_DATE_1")), parse_day(req.param("FID_INPUT_DATE_2"))
            if start_p is None or end_p is None:
                return _fail("OPSQ2001", "ERROR : INPUT_FIELD_NAME FID_INPUT_DATE_1", status=200, rt_cd="2")
            start, end = start_p, end_p
        bars = [b for b in self.market.bars(stock.code, start, min(end, now.date())) if b.day < now.date()]
        if start <= current.day <= end and current.day == now.date():
            bars.append(current)  # today's session so far (or its final bar after the close)
        if period != "D":
            bars = self._aggregate(bars, period)
        limit = 30 if daily else CHART_MAX_ROWS
        more = len(bars) > limit
        rows = [self._chart_row(b, daily) for b in reversed(bars[-limit:])]
        headers = [(k, "M" if k == "tr_cont" and more else v) for k, v in headers]
        if daily:
            return Response.json(self._ok({"output": rows}), content_type=_JSON, headers=headers)
        upper, lower = limit_prices(current.prev_close)
        eps, bps, _ = self._fundamentals(stock)
        output1 = {
            "prdy_vrss": str(current.change),
            "prdy_vrss_sign": _sign(current, upper, lower),
            "prdy_ctrt": f"{current.change_rate:.2f}",
            "stck_prdy_clpr": str(current.prev_close),
            "acml_vol": str(current.volume),
            "acml_tr_pbmn": str(current.amount),
            "hts_kor_isnm": stock.name,
            "stck_prpr": str(current.close),
            "stck_shrn_iscd": stock.code,
            "stck_mxpr": str(upper),
            "stck_llam": str(lower),
            "stck_oprc": str(current.open),
            "stck_hgpr": str(current.high),
            "stck_lwpr": str(current.low),
            "aspr_unit": str(tick_size(current.close)),
            "hts_avls": str(current.close * stock.shares // 100_000_000),
            "lstn_stcn": str(stock.shares),
            "per": f"{current.close / eps:.2f}",
            "eps": f"{eps:.2f}",
            "pbr": f"{current.close / bps:.2f}",
            "vol_tnrt": f"{current.volume / stock.shares * 100:.2f}" if stock.shares else "0.00",
        }
        return Response.json(self._ok({"output1": output1, "output2": rows}), content_type=_JSON, headers=headers)

    @staticmethod
    def _aggregate(bars: list[Bar], period: str) -> list[Bar]:
        def bucket(day: date) -> tuple[int, ...]:
            if period == "W":
                iso = day.isocalendar()
                return (iso[0], iso[1])
            return (day.year, day.month) if period == "M" else (day.year,)

        groups: dict[tuple[int, ...], list[Bar]] = {}
        for bar in bars:
            groups.setdefault(bucket(bar.day), []).append(bar)
        out = []
        for group in groups.values():
            traded = [b for b in group if b.open] or group
            out.append(Bar(
                day=group[-1].day,
                open=traded[0].open,
                high=max(b.high for b in traded),
                low=min(b.low for b in traded),
                close=group[-1].close,
                volume=sum(b.volume for b in group),
                amount=sum(b.amount for b in group),
                prev_close=group[0].prev_close,
                real=all(b.real for b in group),
            ))  # fmt: skip
        return out

    @staticmethod
    def _chart_row(bar: Bar, daily: bool) -> dict[str, str]:
        upper, lower = limit_prices(bar.prev_close)
        if daily:
            return {
                "stck_bsop_date": bar.day.strftime("%Y%m%d"),
                "stck_oprc": str(bar.open),
                "stck_hgpr": str(bar.high),
                "stck_lwpr": str(bar.low),
                "stck_clpr": str(bar.close),
                "acml_vol": str(bar.volume),
                "prdy_vrss_vol_rate": "0.00",
                "prdy_vrss": str(bar.change),
                "prdy_vrss_sign": _sign(bar, upper, lower),
                "prdy_ctrt": f"{bar.change_rate:.2f}",
                "hts_frgn_ehrt": "0.00",
                "frgn_ntby_qty": "0",
                "flng_cls_code": "00",
                "acml_prtt_rate": "0.00",
            }
        return {
            "stck_bsop_date": bar.day.strftime("%Y%m%d"),
            "stck_clpr": str(bar.close),
            "stck_oprc": str(bar.open),
            "stck_hgpr": str(bar.high),
            "stck_lwpr": str(bar.low),
            "acml_vol": str(bar.volume),
            "acml_tr_pbmn": str(bar.amount),
            "flng_cls_code": "00",
            "prtt_rate": "0.00",
            "mod_yn": "N",
            "prdy_vrss_sign": _sign(bar, upper, lower),
            "prdy_vrss": str(bar.change),
            "revl_issu_reas": "",
        }
