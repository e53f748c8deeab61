"""KIS intraday quotes for watched stocks (the KIS client lands in the next commit)."""

from __future__ import annotations

from datetime import date
from typing import Any

from shared.ingestion.options import CrawlOptions
from shared.jobs.service import JobCounts


def ingest_quotes(*, counts: JobCounts, options: CrawlOptions, day: date) -> dict[str, Any]:
    raise NotImplementedError("the quotes job needs the KIS client, which is not built yet")
