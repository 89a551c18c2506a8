from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import RecordModel


class JobOutbox(RecordModel):
    """A background job requested by a transaction and not yet handed to arq (`app/kit/jobs.py`).

    Written in the requesting transaction (one multi-row insert at commit), deleted once the job
    is on Redis: right after the commit by the committer, or by the workers' relay loop for rows
    older than a few seconds (Redis was down, the process died in between).

    No `organization_id`: jobs are system-level (a name and ids as arguments, run by workers for
    every tenant), the relay reads the table across tenants, and a job of an organization deleted
    meanwhile simply finds nothing to do.
    """

    __tablename__ = "job_outbox"
    __table_args__ = (Index("ix_job_outbox_created_at", "created_at"),)

    name: Mapped[str] = mapped_column(String(128), nullable=False)
    args: Mapped[list[Any]] = mapped_column(JSONB, nullable=False)
    job_id: Mapped[str] = mapped_column(String(256), nullable=False)
    defer_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
