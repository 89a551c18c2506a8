from __future__ import annotations

from datetime import datetime

from sqlalchemy import ARRAY, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import TenantModel


class AccessToken(TenantModel):
    """An organization access token. Only the SHA-256 of the token is stored."""

    __tablename__ = "access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    comment: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
