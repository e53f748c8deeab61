"""Every table, imported in one place so that Alembic and tests see the whole schema."""

from shared.abtest.models import AbTest, AbVariant
from shared.db.base import Base
from shared.evaluation.models import DailyPerformance, Evaluation
from shared.jobs.models import JobRun
from shared.news.models import News, NewsStock
from shared.notifications.models import Notification
from shared.predictions.models import ModelConfig, Prediction
from shared.stocks.models import DailyPrice, Stock
from shared.users.models import RefreshToken, User, WatchlistItem

__all__ = [
    "AbTest",
    "AbVariant",
    "Base",
    "DailyPerformance",
    "DailyPrice",
    "Evaluation",
    "JobRun",
    "ModelConfig",
    "News",
    "NewsStock",
    "Notification",
    "Prediction",
    "RefreshToken",
    "Stock",
    "User",
    "WatchlistItem",
]
