"""A model against the baselines on the same stocks and days: the bar it has to clear.

Hit rates over different stock sets are not comparable (a model that skipped the hard
stocks looks better), so each comparison pairs the two models' evaluated calls by
(stock, target day) and counts only the pairs both made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.evaluation.statistics import wilson_interval

_PAIRED_SQL = text(
    """
    SELECT b.id AS baseline_id,
           b.name AS baseline_name,
           count(*) AS n,
           count(*) FILTER (WHERE em.correct) AS model_hits,
           count(*) FILTER (WHERE eb.correct) AS baseline_hits,
           avg(em.brier) AS model_brier,
           avg(eb.brier) AS baseline_brier,
           avg(em.strategy_return) AS model_return,
           avg(eb.strategy_return) AS baseline_return
    FROM predictions pm
    JOIN evaluations em ON em.prediction_id = pm.id
    JOIN predictions pb ON pb.stock_code = pm.stock_code AND pb.target_date = pm.target_date
    JOIN evaluations eb ON eb.prediction_id = pb.id
    JOIN model_configs b ON b.id = pb.model_config_id AND b.kind = 'baseline'
    WHERE pm.model_config_id = :model_id
      AND pb.model_config_id <> :model_id
      AND pm.target_date BETWEEN CAST(:start AS date) AND CAST(:end AS date)
    GROUP BY b.id, b.name
    ORDER BY b.id
    """
)


@dataclass(frozen=True, slots=True)
class BaselineComparison:
    baseline_id: int
    baseline_name: str
    n: int
    model_hit_rate: float
    baseline_hit_rate: float
    model_hit_rate_interval: tuple[float, float]
    model_brier: float
    baseline_brier: float
    model_mean_return: float
    baseline_mean_return: float

    @property
    def hit_rate_lift(self) -> float:
        return self.model_hit_rate - self.baseline_hit_rate


def compare_with_baselines(
    *, db_session: Session, model_config_id: int, start: date, end: date
) -> list[BaselineComparison]:
    rows = db_session.execute(_PAIRED_SQL, {"model_id": model_config_id, "start": start, "end": end}).all()
    return [
        BaselineComparison(
            baseline_id=row.baseline_id,
            baseline_name=row.baseline_name,
            n=row.n,
            model_hit_rate=row.model_hits / row.n,
            baseline_hit_rate=row.baseline_hits / row.n,
            model_hit_rate_interval=wilson_interval(row.model_hits, row.n),
            model_brier=float(row.model_brier),
            baseline_brier=float(row.baseline_brier),
            model_mean_return=float(row.model_return),
            baseline_mean_return=float(row.baseline_return),
        )
        for row in rows
        if row.n
    ]
