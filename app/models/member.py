from __future__ import annotations

import enum
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import SoftDeleteMixin, TenantModel


class MemberRole(str, enum.Enum):
    owner = "owner"
    billing_manager = "billing_manager"
    member = "member"


class Member(SoftDeleteMixin, TenantModel):
    """A person inside a customer. Exactly one active owner per customer (a partial unique index)."""

    __tablename__ = "members"
    __table_args__ = (
        CheckConstraint("role IN ('owner', 'billing_manager', 'member')", name="role"),
        Index(
            "ix_members_customer_id_owner",
            "customer_id",
            unique=True,
            postgresql_where=text("role = 'owner' AND deleted_at IS NULL"),
        ),
        Index(
            "ix_members_customer_id_email",
            "customer_id",
            text("lower(email)"),
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index(
            "ix_members_customer_id_external_id",
            "customer_id",
            "external_id",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
