"""Repackage the shared real market data into the compact files under ``sandbox/data``.

The repository must run without ``/work/shared``, so the sandbox ships trimmed copies of the
real data (only the columns it serves, xz-compressed). Run once when the source data changes:

    python -m sandbox.build_data --source /work/shared/data

Outputs (see ``sandbox/datasets.py`` for the readers):

* ``stocks.json.xz``: one record per stock of the full universe: the recorded MDCSTAT01901
  listing row when KRX still lists the code (else a row composed in the same shape), market
  id, 소속부, listed shares, first/last real trading day and the real close of the trading day
  before the first real row (so generated history joins the real data without a jump).
* ``prices_default.csv.xz``: real daily bars of the default universe (30 KOSPI large caps for
  2015-01-02..2024-12-16, ten KOSDAQ large caps for 2024-01-02..2024-02-13).
* ``prices_full.csv.xz``: real daily bars of every other stock, 2024-01-02..2024-02-13.

Bars are ``code,yyyymmdd,open,high,low,close,volume,amount`` (amount empty when unknown).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import lzma
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from sandbox.ticks import round_to_tick

DATA_DIR = Path(__file__).parent / "data"

# Ten large KOSDAQ names that stayed on KOSDAQ through the window: 셀트리온헬스케어 is left out
# (merged into 셀트리온 in January 2024) and so is 엘앤에프 (moved to KOSPI on 2024-01-29).
DEFAULT_KOSDAQ = ("247540", "086520", "263750", "028300", "196170", "068760", "035900", "403870",
                  "058470", "277810")  # fmt: skip


def isin_for(code: str) -> str:
    """KRX ISIN for a common share: ``KR7`` + code + ``00`` + ISO 6166 check digit."""
    body = f"KR7{code}00"
    digits = "".join(str(int(ch, 36)) for ch in body)
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            n = n // 10 + n % 10
        total += n
    return body + str((10 - total % 10) % 10)


def _slashed(iso_day: str) -> str:
    return iso_day.replace("-", "/")


def _write_xz(path: Path, text: str) -> None:
    path.write_bytes(lzma.compress(text.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME))
    print(f"{path.name}: {path.stat().st_size:,} bytes")


def _bars_csv(rows: list[tuple[str, str, int, int, int, int, int, int | None]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for code, day, o, h, low, c, v, amount in sorted(rows):
        writer.writerow([code, day, o, h, low, c, v, "" if amount is None else amount])
    return out.getvalue()


def build(source: Path) -> None:
    with gzip.open(source / "market/kospi30_daily_2015-2024.csv.gz", "rt") as fh:
        k30 = list(csv.DictReader(fh))
    with gzip.open(source / "market/krx_all_2024-01-02_2024-02-13.csv.gz", "rt") as fh:
        krx = list(csv.DictReader(fh))
    with gzip.open(source / "krx/MDCSTAT01901_ALL.json.gz") as fb:
        listing = json.load(fb)["OutBlock_1"]
    listed = {row["ISU_SRT_CD"]: row for row in listing}

    krx_by_key = {(r["Code"], r["Date"].replace("-", "")): r for r in krx}
    k30_codes = sorted({r["code"] for r in k30})

    # The 30-stock table is adjusted for later corporate actions (e.g. 한화에어로스페이스's 2025
    # rights issue scales its whole history by ~1.034). Rescale such a series so that it meets the
    # raw KRX prices of early 2024; the sandbox serves what KRX served on the day.
    ratios: dict[str, list[float]] = defaultdict(list)
    for r in k30:
        raw = krx_by_key.get((r["code"], r["date"].replace("-", "")))
        if raw is not None and int(r["close"]):
            ratios[r["code"]].append(float(raw["Close"]) / int(r["close"]))
    factor = {code: statistics.median(values) for code, values in ratios.items()}

    default_rows: list[tuple[str, str, int, int, int, int, int, int | None]] = []
    full_rows: list[tuple[str, str, int, int, int, int, int, int | None]] = []
    for r in k30:
        day = r["date"].replace("-", "")
        raw = krx_by_key.get((r["code"], day))
        if raw is not None:
            continue  # the raw KRX row (with its traded value) is used below
        f = factor.get(r["code"], 1.0)
        o, h, low, c, v = (int(r[k]) for k in ("open", "high", "low", "close", "volume"))
        if abs(f - 1.0) > 1e-6:
            o, h, low, c = (round_to_tick(x * f) if x else 0 for x in (o, h, low, c))
            v = round(v / f)
        default_rows.append((r["code"], day, o, h, low, c, v, None))

    default_codes = set(k30_codes) | set(DEFAULT_KOSDAQ)
    k30_first: dict[str, str] = {}
    for r in k30:
        k30_first.setdefault(r["code"], r["date"].replace("-", ""))
    window_end = max(r["Date"] for r in krx).replace("-", "")
    krx_start = min(r["Date"] for r in krx)
    first: dict[str, dict[str, str]] = {}
    last: dict[str, dict[str, str]] = {}
    for r in sorted(krx, key=lambda r: r["Date"]):
        code, day = r["Code"], r["Date"].replace("-", "")
        first.setdefault(code, r)
        last[code] = r
        o, h, low, c, v, amount = (int(float(r[k])) for k in ("Open", "High", "Low", "Close", "Volume", "Amount"))
        (default_rows if code in default_codes else full_rows).append((code, day, o, h, low, c, v, amount))

    stocks: list[dict[str, Any]] = []
    for code in sorted(last):
        r, r0 = last[code], first[code]
        row = listed.get(code)
        if row is None:
            row = {
                "ISU_CD": isin_for(code),
                "ISU_SRT_CD": code,
                "ISU_NM": r["Name"],
                "ISU_ABBRV": r["Name"],
                "ISU_ENG_NM": "",
                # Unknown listing day: only a listing inside the window is known (its first row).
                "LIST_DD": "" if r0["Date"] == krx_start else _slashed(r0["Date"]),
                "MKT_TP_NM": r["Market"],
                "SECUGRP_NM": "주권",
                "SECT_TP_NM": r["Dept"],
                "KIND_STKCERT_TP_NM": "보통주",
                "PARVAL": "무액면" if r["MarketId"] == "KNX" else "500",
                "LIST_SHRS": f"{int(r['Stocks']):,}",
            }
        first_day = k30_first.get(code) or r0["Date"].replace("-", "")
        last_day = "20241216" if code in k30_first else r["Date"].replace("-", "")
        stocks.append(
            {
                "code": code,
                "market_id": r["MarketId"],
                "market": r["Market"],
                "dept": r["Dept"],
                "shares": int(r["Stocks"]),
                "default": code in default_codes,
                "first": first_day,
                # A stock whose rows stop inside the window was delisted (merger, failure).
                "delisted_after": None if code in k30_first or last_day == window_end else last_day,
                # Close of the trading day before the first real row: generated history ends there.
                "prev_close": None if code in k30_first else int(float(r0["Close"]) - float(r0["Changes"])),
                "listing": row,
            }
        )
    _write_xz(DATA_DIR / "stocks.json.xz", json.dumps(stocks, ensure_ascii=False, separators=(",", ":")))
    _write_xz(DATA_DIR / "prices_default.csv.xz", _bars_csv(default_rows))
    _write_xz(DATA_DIR / "prices_full.csv.xz", _bars_csv(full_rows))
    print("rescaled:", {c: round(f, 5) for c, f in factor.items() if abs(f - 1) > 1e-6})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/work/shared/data"))
    build(parser.parse_args().source)


if __name__ == "__main__":
    main()
