"""How a prediction turned out, as the API shows it."""

from __future__ import annotations

from shared.api.schema_base import ReadModel, UtcDateTime
from shared.predictions.models import Direction


class EvaluationSummary(ReadModel):
    """The outcome in a list row: enough to colour a call right or wrong."""

    correct: bool
    actual_return: float
    realized_direction: Direction
    brier: float


class EvaluationRead(EvaluationSummary):
    previous_close: int
    actual_close: int
    log_loss: float
    strategy_return: float
    evaluated_at: UtcDateTime
