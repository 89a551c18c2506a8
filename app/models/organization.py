from __future__ import annotations

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import RecordModel


class Organization(RecordModel):
    """A merchant: the tenant that owns every other row."""

    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint(
            "0 < warning_threshold AND warning_threshold <= critical_threshold AND critical_threshold <= exceeded_threshold",
            name="thresholds",
        ),
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # billing status: percent of credits used from which a meter is warning / critical / exceeded
    warning_threshold: Mapped[int] = mapped_column(Integer, nullable=False, default=80, server_default="80")
    critical_threshold: Mapped[int] = mapped_column(Integer, nullable=False, default=95, server_default="95")
    exceeded_threshold: Mapped[int] = mapped_column(Integer, nullable=False, default=100, server_default="100")
