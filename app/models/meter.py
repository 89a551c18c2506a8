from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import TenantModel


class Meter(TenantModel):
    """What to count: a filter over events and an aggregation over the matching ones.

    `filter` is `{"conjunction": "and"|"or", "clauses": [clause | filter, ...]}` with
    clause `{"property", "operator", "value"}`; `aggregation` is `{"func", "property"}`.
    """

    __tablename__ = "meters"

    name: Mapped[str] = mapped_column(String(256), nullable=False)
    filter: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    aggregation: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
