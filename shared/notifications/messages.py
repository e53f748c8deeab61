"""Messages on the notify queue: the contract between their producers and the notify function."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class SignalMessage(BaseModel):
    """A high-signal prediction (sent by predict)."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["signal"] = "signal"
    prediction_id: int
    stock_code: str
    stock_name: str
    model_name: str
    direction: Literal["up", "down", "flat"]
    probability: float = Field(ge=0, le=1)
    expected_return: float | None = None
    rationale: str = ""
    target_date: date

    @property
    def dedupe_key(self) -> str:
        return f"signal:{self.prediction_id}"


class AlertMessage(BaseModel):
    """An intraday move beyond a threshold on a watched stock (sent by crawl's quotes job)."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["alert"] = "alert"
    stock_code: str
    stock_name: str
    price: int
    change_rate: float
    threshold: float
    day: date

    @property
    def dedupe_key(self) -> str:
        return f"alert:{self.stock_code}:{self.threshold:g}:{self.day.isoformat()}"


NotifyMessage = Annotated[SignalMessage | AlertMessage, Field(discriminator="kind")]
notify_message_adapter: TypeAdapter[SignalMessage | AlertMessage] = TypeAdapter(NotifyMessage)
