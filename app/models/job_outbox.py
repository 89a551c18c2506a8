from __future__ import annotations

from typing import Any

from sqlalchemy import Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import RecordModel


class JobOutbox(RecordModel):
    """The background jobs one transaction requested, not yet handed to arq (`app/kit/jobs.py`).

    `jobs` is `[[name, args, job id, defer until (epoch ms) or null], ...]`. Written in the
    requesting transaction (one row at commit, whatever the number of jobs), deleted once the
    jobs are on Redis: right after the commit by the committer, or by the workers' relay loop for rows
    older than a few seconds (Redis was down, the process died in between).

    No `organization_id`: jobs are system-level (a name and ids as arguments, run by workers for
    every tenant), the relay reads the table across tenants, and a job of an organization deleted
    meanwhile simply finds nothing to do.
    """

    __tablename__ = "job_outbox"
    __table_args__ = (Index("ix_job_outbox_created_at", "created_at"),)

    jobs: Mapped[list[list[Any]]] = mapped_column(JSONB, nullable=False)
