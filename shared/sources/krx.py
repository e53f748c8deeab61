"""KRX market data: the data.krx.co.kr JSON endpoint (member login) and the official Open API.

Both sources parse into the same `ListingRecord` / `DailyPriceRecord`, so the jobs do not
care which one `settings.krx_source` picks. Facts the code relies on:

- Every value is a string. The data endpoint writes thousands separators ("2,975,231"),
  the Open API plain digits ("5280"); both write "-" for a value not published (yet).
- A halted stock trades nothing: open/high/low arrive as "0" with volume 0. Such a bar is
  stored at its close (a zero low would read as a 100 % crash to every consumer).
- Responses say `text/html` even when the body is JSON: the body is parsed here.
- Since 2026 the data endpoint answers the plain-text body `LOGOUT` unless the client has
  logged in as a member; the session is renewed after an hour or on `LOGOUT`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

import httpx

from shared.config import Settings, get_settings
from shared.market_calendar import previous_trading_day
from shared.sources.http import UpstreamError, build_client, send_with_retries
from shared.sources.records import (
    DailyPriceRecord,
    ListingRecord,
    MalformedFieldError,
    ParsedBatch,
    RejectedRow,
    optional_text,
    parse_market,
    parse_stock_code,
)
from shared.stocks.models import Market

log = logging.getLogger(__name__)
T = TypeVar("T")

DATA_JSON_PATH = "/comm/bldAttendant/getJsonData.cmd"
LOGIN_PAGE_PATH = "/contents/MDC/COMS/client/MDCCOMS001.cmd"
LOGIN_JSP_PATH = "/contents/MDC/COMS/client/view/login.jsp"
LOGIN_POST_PATH = "/contents/MDC/COMS/client/MDCCOMS001D1.cmd"
DATA_REFERER_PATH = "/contents/MDC/MDI/outerLoader/index.cmd"
BLD_DAILY_PRICES = "dbms/MDC/STAT/standard/MDCSTAT01501"
BLD_LISTING = "dbms/MDC/STAT/standard/MDCSTAT01901"
# pykrx treats a member session as good for an hour; renew a little before that.
SESSION_SECONDS = 55 * 60

# How many trading days back the Open API listing may be looked for (unpublished days are empty).
LISTING_LOOKBACK_DAYS = 5

LOGIN_OK = "CD001"
LOGIN_PASSWORD_CHANGE = "CD010"
LOGIN_DUPLICATE = "CD011"

_OPENAPI_MARKET_PREFIX = {Market.KOSPI: "stk", Market.KOSDAQ: "ksq", Market.KONEX: "knx"}

_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


class KrxError(UpstreamError):
    """KRX answered with something other than the report asked for."""


class KrxLoginError(KrxError):
    """The member login failed (wrong credentials, password change required, …)."""


class KrxSessionExpiredError(KrxError):
    """KRX answered `LOGOUT` even right after a fresh login."""


class KrxAuthError(KrxError):
    """The Open API refused the AUTH_KEY (401/403): a configuration error, never retried."""


# --- number parsing ---------------------------------------------------------


class _Unpublished(Exception):
    """A value KRX writes as "-": not published yet (or no trading)."""


def _clean(raw: object, field_name: str) -> str:
    if raw is None:
        raise MalformedFieldError(f"{field_name} is missing")
    text = str(raw).strip().replace(",", "")
    if text in {"", "-"}:
        raise _Unpublished(field_name)
    return text


def parse_krx_int(raw: object, field_name: str = "value") -> int:
    """ "2,975,231" → 2975231, "-1,000" → -1000; "-" / "" → unpublished; anything else is malformed."""
    text = _clean(raw, field_name)
    if not _INTEGER.match(text):
        raise MalformedFieldError(f"{field_name} is not an integer: {raw!r}")
    return int(text)


def parse_krx_decimal(raw: object, field_name: str = "value") -> float:
    text = _clean(raw, field_name)
    if not _DECIMAL.match(text):
        raise MalformedFieldError(f"{field_name} is not a number: {raw!r}")
    return float(text)


def _optional_int(raw: object, field_name: str) -> int | None:
    try:
        return parse_krx_int(raw, field_name)
    except _Unpublished:
        return None


def parse_krx_date(raw: object, field_name: str = "date") -> date | None:
    """ "2008/09/23", "2008-09-23" and "20080923" all occur; "-" or "" means unknown."""
    text = optional_text(raw)
    if text is None:
        return None
    digits = text.replace("/", "").replace("-", "").replace(".", "")
    try:
        return datetime.strptime(digits, "%Y%m%d").date()
    except ValueError as exc:
        raise MalformedFieldError(f"{field_name} is not a date: {raw!r}") from exc


# --- row parsers (pure) -----------------------------------------------------


def _daily_price_row(row: Mapping[str, Any], *, day: date, code: str, market: Market | None) -> DailyPriceRecord:
    close = parse_krx_int(row.get("TDD_CLSPRC"), "TDD_CLSPRC")
    volume = parse_krx_int(row.get("ACC_TRDVOL"), "ACC_TRDVOL")
    open_, high, low = (parse_krx_int(row.get(name), name) for name in ("TDD_OPNPRC", "TDD_HGPRC", "TDD_LWPRC"))
    if close <= 0:
        raise MalformedFieldError(f"TDD_CLSPRC must be positive: {row.get('TDD_CLSPRC')!r}")
    if volume == 0 and 0 in (open_, high, low):
        open_ = high = low = close  # halted: no trade, the bar is the standing close
    if min(open_, high, low, volume) < 0 or not low <= min(open_, close) <= max(open_, close) <= high:
        raise MalformedFieldError(f"inconsistent OHLC o={open_} h={high} l={low} c={close}")
    return DailyPriceRecord(
        code=code,
        name=optional_text(row.get("ISU_ABBRV") or row.get("ISU_NM")),
        market=market,
        isin=_isin(row.get("ISU_CD")),
        day=day,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        value=parse_krx_int(row.get("ACC_TRDVAL"), "ACC_TRDVAL"),
        change=parse_krx_int(row.get("CMPPREVDD_PRC"), "CMPPREVDD_PRC"),
        change_rate=parse_krx_decimal(row.get("FLUC_RT"), "FLUC_RT"),
        market_cap=_optional_int(row.get("MKTCAP"), "MKTCAP"),
    )


def _isin(raw: object) -> str | None:
    """The data endpoint's ISU_CD is the 12-char ISIN; the Open API's trade rows put the short code there."""
    text = optional_text(raw)
    return text if text is not None and len(text) == 12 else None


def _parse_rows(
    rows: Iterable[Any],
    parse_row: Callable[[Mapping[str, Any]], T | None],
    *,
    code_field: str,
) -> ParsedBatch[T]:
    batch: ParsedBatch[T] = ParsedBatch()
    for row in rows:
        if not isinstance(row, Mapping):
            batch.rejected.append(RejectedRow(raw={"row": row}, reason="row is not an object"))
            continue
        try:
            record = parse_row(row)
        except _Unpublished as missing:
            batch.unpublished.append(str(row.get(code_field, "?")))
            log.debug("krx row not published", extra={"field": str(missing), "raw": dict(row)})
            continue
        except (MalformedFieldError, ValueError, TypeError) as exc:
            batch.rejected.append(RejectedRow(raw=dict(row), reason=str(exc)))
            continue
        if record is not None:
            batch.records.append(record)
    return batch


def _rows(payload: Any, key: str = "OutBlock_1") -> list[Any]:
    if not isinstance(payload, Mapping):
        raise KrxError(f"KRX payload is not an object: {str(payload)[:200]!r}")
    rows = payload.get(key)
    if rows is None:
        raise KrxError(f"KRX payload has no {key!r}: keys {sorted(payload)[:10]}")
    if not isinstance(rows, list):
        raise KrxError(f"KRX {key!r} is not a list")
    return rows


def parse_data_daily_prices(payload: Any, *, day: date, markets: Sequence[Market]) -> ParsedBatch[DailyPriceRecord]:
    """MDCSTAT01501 (every stock's bar for `day`), keeping only `markets`."""
    wanted = set(markets)

    def parse(row: Mapping[str, Any]) -> DailyPriceRecord | None:
        market = parse_market(row.get("MKT_NM") or row.get("MKT_ID"))
        if market not in wanted:
            return None
        return _daily_price_row(row, day=day, code=parse_stock_code(row.get("ISU_SRT_CD")), market=market)

    return _parse_rows(_rows(payload), parse, code_field="ISU_SRT_CD")


def parse_openapi_daily_prices(payload: Any, *, day: date, market: Market) -> ParsedBatch[DailyPriceRecord]:
    """`{stk,ksq,knx}_bydd_trd`: one market per call, ISU_CD is the short code here."""

    def parse(row: Mapping[str, Any]) -> DailyPriceRecord:
        row_day = parse_krx_date(row.get("BAS_DD"), "BAS_DD")
        if row_day is not None and row_day != day:
            raise MalformedFieldError(f"BAS_DD {row.get('BAS_DD')!r} is not the requested day {day}")
        return _daily_price_row(row, day=day, code=parse_stock_code(row.get("ISU_CD")), market=market)

    return _parse_rows(_rows(payload), parse, code_field="ISU_CD")


def _listing_row(row: Mapping[str, Any], *, market: Market) -> ListingRecord:
    name = optional_text(row.get("ISU_ABBRV")) or optional_text(row.get("ISU_NM"))
    if name is None:
        raise MalformedFieldError("ISU_ABBRV and ISU_NM are empty")
    return ListingRecord(
        code=parse_stock_code(row.get("ISU_SRT_CD")),
        name=name,
        market=market,
        sector=optional_text(row.get("SECT_TP_NM")),
        isin=_isin(row.get("ISU_CD")),
        listed_on=parse_krx_date(row.get("LIST_DD"), "LIST_DD"),
    )


def parse_data_listing(payload: Any, *, markets: Sequence[Market]) -> ParsedBatch[ListingRecord]:
    """MDCSTAT01901 (every listed stock); `KOSDAQ GLOBAL` is KOSDAQ."""
    wanted = set(markets)

    def parse(row: Mapping[str, Any]) -> ListingRecord | None:
        market = parse_market(row.get("MKT_TP_NM"))
        return _listing_row(row, market=market) if market in wanted else None

    return _parse_rows(_rows(payload), parse, code_field="ISU_SRT_CD")


def parse_openapi_listing(payload: Any, *, market: Market) -> ParsedBatch[ListingRecord]:
    """`{stk,ksq,knx}_isu_base_info`: the market is the endpoint's."""
    return _parse_rows(_rows(payload), lambda row: _listing_row(row, market=market), code_field="ISU_SRT_CD")


def decode_krx_body(response: httpx.Response, *, what: str) -> Any:
    """KRX's JSON arrives as text/html; `LOGOUT` (any status) means the member session is gone."""
    text = response.text.strip()
    if text == "LOGOUT":
        raise KrxSessionExpiredError(f"KRX answered LOGOUT to {what}")
    if response.status_code in (401, 403):
        raise KrxAuthError(f"KRX refused {what}: HTTP {response.status_code} {text[:200]!r}")
    if response.status_code >= 400:
        raise KrxError(f"KRX {what} failed: HTTP {response.status_code} {text[:200]!r}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise KrxError(f"KRX {what} answered non-JSON: {text[:200]!r}") from exc


# --- clients ----------------------------------------------------------------


class KrxSource(Protocol):
    """What the jobs need from KRX, whichever endpoint serves it."""

    name: str

    def daily_prices(self, day: date) -> ParsedBatch[DailyPriceRecord]: ...

    def listing(self, day: date) -> ParsedBatch[ListingRecord]: ...

    def close(self) -> None: ...


class KrxDataClient:
    """data.krx.co.kr with a member session (login, renewal after an hour or on `LOGOUT`)."""

    name = "data"

    def __init__(self, *, markets: Sequence[Market], settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.markets = tuple(markets)
        base = self.settings.krx_data_url.rstrip("/")
        self._client = build_client(
            base_url=base,
            headers={
                # The site serves browsers; pykrx's headers are what it is known to accept.
                "User-Agent": "Mozilla/5.0",
                "Referer": f"{base}{DATA_REFERER_PATH}",
                "X-Requested-With": "XMLHttpRequest",
            },
            settings=self.settings,
            follow_redirects=True,
        )
        self._logged_in_at: float | None = None

    def close(self) -> None:
        self._client.close()

    @property
    def session_fresh(self) -> bool:
        return self._logged_in_at is not None and time.monotonic() - self._logged_in_at < SESSION_SECONDS

    def login(self) -> None:
        """The three-step member login; a duplicate login (CD011) is resent with skipDup=Y."""
        member_id = self.settings.require("krx_id")
        password = self.settings.require("krx_pw")
        self._client.cookies.clear()
        send_with_retries(self._client, "GET", LOGIN_PAGE_PATH)
        send_with_retries(self._client, "GET", LOGIN_JSP_PATH, params={"site": "mdc"})
        form = {"mbrNm": "", "telNo": "", "di": "", "certType": "", "mbrId": member_id, "pw": password}
        code, message = self._post_login(form)
        if code == LOGIN_DUPLICATE:
            code, message = self._post_login({**form, "skipDup": "Y"})
        if code == LOGIN_PASSWORD_CHANGE:
            raise KrxLoginError("KRX login refused: the member password must be changed on data.krx.co.kr (CD010)")
        if code != LOGIN_OK:
            raise KrxLoginError(f"KRX login failed: {code or 'no _error_code'} {message}".strip())
        self._logged_in_at = time.monotonic()
        log.info("krx member session opened")

    def _post_login(self, form: Mapping[str, str]) -> tuple[str, str]:
        referer = str(self._client.base_url.join(LOGIN_PAGE_PATH))
        response = send_with_retries(
            self._client, "POST", LOGIN_POST_PATH, data=dict(form), headers={"Referer": referer}
        )
        payload = decode_krx_body(response, what="login")
        if not isinstance(payload, Mapping):
            raise KrxLoginError(f"KRX login answered {str(payload)[:200]!r}")
        return str(payload.get("_error_code") or ""), str(payload.get("_error_message") or "")

    def fetch_report(self, form: Mapping[str, str]) -> Any:
        """POST one `bld` report; logs in first, and once more if KRX says `LOGOUT`."""
        what = str(form.get("bld", "report"))
        if not self.session_fresh:
            self.login()
        for attempt in (1, 2):
            response = send_with_retries(self._client, "POST", DATA_JSON_PATH, data=dict(form))
            try:
                return decode_krx_body(response, what=what)
            except KrxSessionExpiredError:
                if attempt == 2:
                    raise
                log.info("krx session expired, logging in again")
                self.login()
        raise AssertionError("unreachable")  # pragma: no cover

    def daily_prices(self, day: date) -> ParsedBatch[DailyPriceRecord]:
        form = {"bld": BLD_DAILY_PRICES, "locale": "ko_KR", "mktId": "ALL", "trdDd": day.strftime("%Y%m%d"),
                "share": "1", "money": "1", "csvxls_isNo": "false"}  # fmt: skip
        return parse_data_daily_prices(self.fetch_report(form), day=day, markets=self.markets)

    def listing(self, day: date) -> ParsedBatch[ListingRecord]:
        form = {"bld": BLD_LISTING, "locale": "ko_KR", "mktId": "ALL", "share": "1", "csvxls_isNo": "false"}
        return parse_data_listing(self.fetch_report(form), markets=self.markets)


class KrxOpenApiClient:
    """The official Open API: one market per call, key in the `AUTH_KEY` header."""

    name = "openapi"

    def __init__(self, *, markets: Sequence[Market], settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.markets = tuple(markets)
        self._client = build_client(
            base_url=self.settings.krx_openapi_url.rstrip("/"),
            headers={"AUTH_KEY": self.settings.require("krx_auth_key"), "Accept": "application/json"},
            settings=self.settings,
        )

    def close(self) -> None:
        self._client.close()

    def fetch(self, endpoint: str, day: date) -> Any:
        response = send_with_retries(
            self._client, "GET", f"/svc/apis/sto/{endpoint}", params={"basDd": day.strftime("%Y%m%d")}
        )
        return decode_krx_body(response, what=endpoint)

    def daily_prices(self, day: date) -> ParsedBatch[DailyPriceRecord]:
        batch: ParsedBatch[DailyPriceRecord] = ParsedBatch()
        for market in self.markets:
            payload = self.fetch(f"{_OPENAPI_MARKET_PREFIX[market]}_bydd_trd", day)
            batch.extend(parse_openapi_daily_prices(payload, day=day, market=market))
        return batch

    def listing(self, day: date) -> ParsedBatch[ListingRecord]:
        """Base info as of `day`, or of the latest published trading day before it.

        The Open API publishes a day the next morning: "today's" listing is empty until then.
        """
        basis = day
        for _ in range(LISTING_LOOKBACK_DAYS):
            batch: ParsedBatch[ListingRecord] = ParsedBatch()
            for market in self.markets:
                payload = self.fetch(f"{_OPENAPI_MARKET_PREFIX[market]}_isu_base_info", basis)
                batch.extend(parse_openapi_listing(payload, market=market))
            if batch.records or batch.rejected:
                return batch
            basis = previous_trading_day(basis)
        return ParsedBatch()


def open_krx_source(*, markets: Sequence[Market], settings: Settings | None = None) -> KrxSource:
    """The client `settings.krx_source` names; the caller closes it."""
    settings = settings or get_settings()
    if settings.krx_source == "openapi":
        return KrxOpenApiClient(markets=markets, settings=settings)
    return KrxDataClient(markets=markets, settings=settings)
