from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import RecordModel


class IdempotencyKey(RecordModel):
    """One idempotency key of an organization's operation (`app/kit/idempotency.py`).

    Claimed in the operation's own transaction and given its `response` in that same
    transaction, so a committed row always holds the answer to replay. `request_hash` is the
    SHA-256 of the operation's input (canonical JSON, the key itself left out). Past
    `expires_at` the key counts as absent; the workers' `idempotency.sweep` deletes it.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("organization_id", "operation", "key"),
        Index("ix_idempotency_keys_organization_id_expires_at", "organization_id", "expires_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    operation: Mapped[str] = mapped_column(String(128), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
