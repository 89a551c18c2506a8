from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import RecordModel


class Organization(RecordModel):
    """A merchant: the tenant that owns every other row."""

    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
