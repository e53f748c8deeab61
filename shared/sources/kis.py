"""Korea Investment & Securities (KIS) REST: access token, current price, daily chart.

What makes KIS awkward, and what this module does about it:

- A token lives 24 h but may be issued only once a minute per appkey (EGW00133), and every
  issuance pings the account holder. Every container shares one token through Redis: it is
  cached until shortly before expiry, and issuance happens under a Redis lock — the other
  containers wait and then read the token the lock holder stored.
- Requests are limited per appkey (~20/s): a token bucket in Redis paces every container
  together; EGW00201 ("too many requests", usually HTTP 500) is retried with backoff anyway.
- Errors arrive as `rt_cd != "0"` in HTTP 200 *or* 500 bodies, so the body decides.
  EGW00123 (expired token) / EGW00121 (unknown token) → drop the cached token, retry once.
- Every number is a string without separators.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import redis

from shared.config import Settings, get_settings
from shared.market_calendar import KST
from shared.sources.http import UpstreamError, UpstreamUnavailableError, build_client, send_with_retries
from shared.sources.records import DailyPriceRecord, MalformedFieldError, ParsedBatch, RejectedRow, parse_stock_code
from shared.stores.redis import KEY_PREFIX, RateLimiter, exclusive_lock, get_redis

log = logging.getLogger(__name__)

TOKEN_PATH = "/oauth2/tokenP"
PRICE_PATH = "/uapi/domestic-stock/v1/quotations/inquire-price"
CHART_PATH = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"
TR_PRICE = "FHKST01010100"
TR_CHART = "FHKST03010100"
CHART_MAX_ROWS = 100

RATE_LIMITED = "EGW00201"
TOKEN_EXPIRED = "EGW00123"
TOKEN_INVALID = "EGW00121"
TOKEN_TOO_SOON = "EGW00133"
NO_DATA = "KIOK0560"

# How long a container waits for another one's token issuance before giving up. KIS
# allows one issuance a minute, so a refusal can take that long to clear.
TOKEN_WAIT_SECONDS = 75.0
TOKEN_LOCK_SECONDS = 30
TOKEN_POLL_SECONDS = 0.2
TOKEN_REISSUE_SECONDS = 10.0
MAX_CHART_PAGES = 40


class KisError(UpstreamError):
    def __init__(self, message: str, *, msg_cd: str = "", status_code: int = 200) -> None:
        super().__init__(message)
        self.msg_cd = msg_cd
        self.status_code = status_code


class KisAuthError(KisError):
    """The appkey/appsecret are refused, or no token could be had: configuration or KIS outage."""


class KisNoDataError(KisError):
    """KIS has nothing for this code (unknown, delisted, not traded)."""


@dataclass(frozen=True, slots=True)
class Quote:
    code: str
    price: int
    change: int
    change_rate: float
    open: int
    high: int
    low: int
    volume: int
    value: int
    prev_close: int | None
    halted: bool


# --- parsing (pure) -------------------------------------------------------------------


def _int(raw: object, name: str) -> int:
    text = str(raw if raw is not None else "").strip()
    try:
        return int(text)
    except ValueError:
        try:
            as_float = float(text)
        except ValueError:
            raise MalformedFieldError(f"{name} is not a number: {raw!r}") from None
        if not as_float.is_integer():
            raise MalformedFieldError(f"{name} is not an integer: {raw!r}") from None
        return int(as_float)


def _float(raw: object, name: str) -> float:
    try:
        return float(str(raw if raw is not None else "").strip())
    except ValueError:
        raise MalformedFieldError(f"{name} is not a number: {raw!r}") from None


def check_envelope(payload: Any, *, status_code: int = 200) -> Mapping[str, Any]:
    """The payload when `rt_cd == "0"`; otherwise the KIS error it carries."""
    if not isinstance(payload, Mapping):
        raise KisError(f"KIS answered a non-object: {str(payload)[:200]!r}", status_code=status_code)
    rt_cd = str(payload.get("rt_cd", ""))
    if rt_cd == "0":
        return payload
    msg_cd = str(payload.get("msg_cd") or payload.get("error_code") or "")
    message = str(payload.get("msg1") or payload.get("error_description") or "").strip()
    text = f"KIS error {msg_cd or rt_cd or status_code}: {message}".strip()
    if msg_cd == NO_DATA:
        raise KisNoDataError(text, msg_cd=msg_cd, status_code=status_code)
    raise KisError(text, msg_cd=msg_cd, status_code=status_code)


def parse_quote(payload: Any, *, code: str) -> Quote:
    output = check_envelope(payload).get("output")
    if not isinstance(output, Mapping):
        raise KisError("KIS quote has no 'output' object")
    price = _int(output.get("stck_prpr"), "stck_prpr")
    if price <= 0:
        raise MalformedFieldError(f"stck_prpr must be positive: {output.get('stck_prpr')!r}")
    base = output.get("stck_sdpr")
    return Quote(
        code=code,
        price=price,
        change=_int(output.get("prdy_vrss"), "prdy_vrss"),
        change_rate=_float(output.get("prdy_ctrt"), "prdy_ctrt"),
        open=_int(output.get("stck_oprc"), "stck_oprc"),
        high=_int(output.get("stck_hgpr"), "stck_hgpr"),
        low=_int(output.get("stck_lwpr"), "stck_lwpr"),
        volume=_int(output.get("acml_vol"), "acml_vol"),
        value=_int(output.get("acml_tr_pbmn", "0"), "acml_tr_pbmn"),
        prev_close=_int(base, "stck_sdpr") if base not in (None, "") else None,
        halted=str(output.get("temp_stop_yn", "N")).upper() == "Y",
    )


def parse_daily_chart(payload: Any, *, code: str) -> ParsedBatch[DailyPriceRecord]:
    """`output2` rows of inquire-daily-itemchartprice (newest first); empty rows are skipped."""
    body = check_envelope(payload)
    summary = body.get("output1")
    name = str(summary.get("hts_kor_isnm") or "").strip() or None if isinstance(summary, Mapping) else None
    rows = body.get("output2") or []
    batch: ParsedBatch[DailyPriceRecord] = ParsedBatch()
    if not isinstance(rows, list):
        raise KisError("KIS chart 'output2' is not a list")
    for row in rows:
        if not isinstance(row, Mapping):
            batch.rejected.append(RejectedRow(raw={"row": row}, reason="row is not an object"))
            continue
        if not row.get("stck_bsop_date"):
            continue  # KIS pads short answers with empty objects
        try:
            batch.records.append(_chart_row(row, code=code, name=name))
        except (MalformedFieldError, ValueError) as exc:
            batch.rejected.append(RejectedRow(raw=dict(row), reason=str(exc)))
    return batch


def _chart_row(row: Mapping[str, Any], *, code: str, name: str | None) -> DailyPriceRecord:
    day = datetime.strptime(str(row.get("stck_bsop_date")), "%Y%m%d").date()
    close = _int(row.get("stck_clpr"), "stck_clpr")
    open_, high, low = (_int(row.get(f), f) for f in ("stck_oprc", "stck_hgpr", "stck_lwpr"))
    volume = _int(row.get("acml_vol"), "acml_vol")
    if close <= 0:
        raise MalformedFieldError(f"stck_clpr must be positive: {row.get('stck_clpr')!r}")
    if volume == 0 and 0 in (open_, high, low):
        open_ = high = low = close  # halted: no trade
    change = _int(row.get("prdy_vrss", "0"), "prdy_vrss")
    previous = close - change
    return DailyPriceRecord(
        code=code,
        name=name,
        market=None,
        isin=None,
        day=day,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        value=_int(row.get("acml_tr_pbmn", "0"), "acml_tr_pbmn"),
        change=change,
        change_rate=round(change / previous * 100, 2) if previous > 0 else 0.0,
        market_cap=None,
    )


# --- token ------------------------------------------------------------------------------


class KisTokenProvider:
    """One access token per appkey for every container: Redis cache + Redis lock around issuance."""

    def __init__(self, *, http: httpx.Client, settings: Settings, refresh_margin_seconds: int) -> None:
        self._http = http
        self._appkey = settings.require("kis_app_key")
        self._appsecret = settings.require("kis_app_secret")
        self._margin = refresh_margin_seconds
        digest = hashlib.sha256(self._appkey.encode()).hexdigest()[:16]
        self.cache_key = f"{KEY_PREFIX}kis:token:{digest}"
        self.lock_name = f"kis:token-issue:{digest}"
        self.issued = 0  # by this provider: tests and metrics

    def _cached(self) -> str | None:
        raw = get_redis().get(self.cache_key)
        if not raw:
            return None
        try:
            cached = json.loads(raw)
            expires = datetime.fromisoformat(cached["expires_at"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires - timedelta(seconds=self._margin) <= datetime.now(KST):
            return None
        return str(cached["token"])

    def get(self) -> str:
        """A valid token: the cached one, or one issued now by exactly one container."""
        token = self._cached()
        if token is not None:
            return token
        deadline = time.monotonic() + TOKEN_WAIT_SECONDS
        next_issue_at = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_issue_at:
                with exclusive_lock(self.lock_name, ttl_seconds=TOKEN_LOCK_SECONDS) as held:
                    if held:
                        token = self._cached()  # another container may have finished just before us
                        if token is not None:
                            return token
                        issued = self._issue()
                        if issued is not None:
                            return issued
                        # "Once a minute": asking again right away only prolongs the refusal.
                        next_issue_at = time.monotonic() + TOKEN_REISSUE_SECONDS
            time.sleep(TOKEN_POLL_SECONDS)
            token = self._cached()
            if token is not None:
                return token
        raise KisAuthError(f"no KIS access token after waiting {TOKEN_WAIT_SECONDS:.0f}s", msg_cd=TOKEN_TOO_SOON)

    def invalidate(self, token: str) -> None:
        """Forget the cached token if it is this one (KIS said it expired or is unknown)."""
        raw = get_redis().get(self.cache_key)
        if raw and token in raw:
            get_redis().delete(self.cache_key)

    def _issue(self) -> str | None:
        """POST /oauth2/tokenP; None when KIS says "once a minute" (the caller waits and retries)."""
        body = {"grant_type": "client_credentials", "appkey": self._appkey, "appsecret": self._appsecret}
        response = send_with_retries(self._http, "POST", TOKEN_PATH, json=body)
        try:
            payload = json.loads(response.text)
        except json.JSONDecodeError:
            raise KisAuthError(
                f"KIS token answer is not JSON: HTTP {response.status_code} {response.text[:200]!r}",
                status_code=response.status_code,
            ) from None
        code = str(payload.get("error_code") or payload.get("msg_cd") or "") if isinstance(payload, Mapping) else ""
        if code == TOKEN_TOO_SOON:
            log.info("kis token issued less than a minute ago; waiting for it")
            return None
        if response.status_code != 200 or not isinstance(payload, Mapping) or not payload.get("access_token"):
            message = payload.get("error_description") if isinstance(payload, Mapping) else ""
            raise KisAuthError(
                f"KIS refused to issue a token: HTTP {response.status_code} {code} {message}".strip(),
                msg_cd=code,
                status_code=response.status_code,
            )
        token = str(payload["access_token"])
        expires_at = _token_expiry(payload)
        ttl = int((expires_at - datetime.now(KST)).total_seconds()) - self._margin
        if ttl > 0:
            get_redis().set(self.cache_key, json.dumps({"token": token, "expires_at": expires_at.isoformat()}), ex=ttl)
        self.issued += 1
        log.info("kis access token issued", extra={"expires_at": expires_at.isoformat()})
        return token


def _token_expiry(payload: Mapping[str, Any]) -> datetime:
    """When the token expires, by our clock: `expires_in` (relative) survives clock skew between
    us and KIS; the absolute `access_token_token_expired` (KST) is the fallback.
    """
    seconds = payload.get("expires_in")
    if seconds not in (None, ""):
        return datetime.now(KST) + timedelta(seconds=_int(seconds, "expires_in"))
    raw = str(payload.get("access_token_token_expired") or "").strip()
    try:
        return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST)
    except ValueError:
        raise KisAuthError(f"KIS token answer has no usable expiry: {raw!r}") from None


# --- client -----------------------------------------------------------------------------


def _kis_msg_cd(response: httpx.Response) -> str:
    try:
        payload = json.loads(response.text)
    except json.JSONDecodeError:
        return ""
    return str(payload.get("msg_cd") or "") if isinstance(payload, Mapping) else ""


def is_retryable(response: httpx.Response) -> bool:
    """EGW00201 in any status; 5xx without a KIS envelope (gateway trouble). A token error is not."""
    msg_cd = _kis_msg_cd(response)
    if msg_cd == RATE_LIMITED:
        return True
    if response.status_code in (429, 502, 503, 504):
        return True
    return response.status_code >= 500 and not msg_cd


class KisClient:
    def __init__(self, *, settings: Settings | None = None, refresh_margin_seconds: int = 600) -> None:
        self.settings = settings or get_settings()
        self._http = build_client(
            base_url=self.settings.kis_base_url.rstrip("/"),
            headers={"content-type": "application/json; charset=utf-8", "custtype": "P"},
            settings=self.settings,
        )
        self.tokens = KisTokenProvider(
            http=self._http, settings=self.settings, refresh_margin_seconds=refresh_margin_seconds
        )
        self._limiter = RateLimiter("kis", rate_per_second=self.settings.kis_requests_per_second)

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, *, tr_id: str, params: Mapping[str, str]) -> Any:
        """One quotation GET; on an expired/unknown token the token is refreshed once."""
        for attempt in (1, 2):
            token = self.tokens.get()
            headers = {
                "authorization": f"Bearer {token}",
                "appkey": self.settings.require("kis_app_key"),
                "appsecret": self.settings.require("kis_app_secret"),
                "tr_id": tr_id,
            }
            try:
                self._limiter.acquire()
            except redis.RedisError as exc:
                log.warning("kis rate limiter unavailable; relying on EGW00201 retries", extra={"error": str(exc)})
            try:
                response = send_with_retries(
                    self._http, "GET", path, params=dict(params), headers=headers, is_retryable=is_retryable
                )
            except UpstreamUnavailableError as exc:
                raise KisError(str(exc), msg_cd=_code_in(exc.body), status_code=exc.status_code) from exc
            try:
                payload = json.loads(response.text)
            except json.JSONDecodeError:
                raise KisError(
                    f"KIS answered non-JSON: HTTP {response.status_code} {response.text[:200]!r}",
                    status_code=response.status_code,
                ) from None
            try:
                return check_envelope(payload, status_code=response.status_code)
            except KisError as exc:
                if exc.msg_cd in (TOKEN_EXPIRED, TOKEN_INVALID) and attempt == 1:
                    log.info("kis token rejected; refreshing once", extra={"msg_cd": exc.msg_cd})
                    self.tokens.invalidate(token)
                    continue
                if exc.msg_cd in ("EGW00103", "EGW00105"):
                    raise KisAuthError(str(exc), msg_cd=exc.msg_cd, status_code=exc.status_code) from None
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def current_price(self, code: str) -> Quote:
        payload = self._get(PRICE_PATH, tr_id=TR_PRICE, params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code})
        return parse_quote(payload, code=code)

    def daily_chart(self, code: str, *, start: date, end: date, adjusted: bool = True) -> ParsedBatch[DailyPriceRecord]:
        """Daily bars from `start` to `end`, paging back 100 rows at a time."""
        code = parse_stock_code(code)
        batch: ParsedBatch[DailyPriceRecord] = ParsedBatch()
        page_end = end
        for _ in range(MAX_CHART_PAGES):
            params = {
                "FID_COND_MRKT_DIV_CODE": "J",
                "FID_INPUT_ISCD": code,
                "FID_INPUT_DATE_1": start.strftime("%Y%m%d"),
                "FID_INPUT_DATE_2": page_end.strftime("%Y%m%d"),
                "FID_PERIOD_DIV_CODE": "D",
                "FID_ORG_ADJ_PRC": "0" if adjusted else "1",
            }
            try:
                page = parse_daily_chart(self._get(CHART_PATH, tr_id=TR_CHART, params=params), code=code)
            except KisNoDataError:
                break
            batch.rejected.extend(page.rejected)
            in_range = [record for record in page.records if start <= record.day <= page_end]
            batch.records.extend(in_range)
            if len(page.records) < CHART_MAX_ROWS or not in_range:
                break
            oldest = min(record.day for record in in_range)
            if oldest <= start:
                break
            page_end = oldest - timedelta(days=1)
        return batch


def _code_in(body: str) -> str:
    try:
        payload = json.loads(body)
    except json.JSONDecodeError:
        return ""
    return str(payload.get("msg_cd") or "") if isinstance(payload, Mapping) else ""
