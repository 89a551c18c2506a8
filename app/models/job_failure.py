from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import RecordModel


class JobFailure(RecordModel):
    """A background job that used up its tries. Kept so that nothing fails silently.

    `organization_id` is set when the job's organization is known; system jobs have none.
    """

    __tablename__ = "job_failures"

    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True, index=True
    )
    job_name: Mapped[str] = mapped_column(String(128), nullable=False)
    job_id: Mapped[str] = mapped_column(String(256), nullable=False)
    args: Mapped[list[Any]] = mapped_column(JSONB, nullable=False)
    tries: Mapped[int] = mapped_column(Integer, nullable=False)
    error: Mapped[str] = mapped_column(Text, nullable=False)
