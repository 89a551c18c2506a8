from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit import clock
from app.kit.models import Base


class StripeEvent(Base):
    """A Stripe event as Stripe sent it to `POST /v1/integrations/stripe/webhook`, stored once
    by its id (a repeated delivery finds it there) and processed once by the job
    `stripe.process_event` (`processed_at` is set in the transaction of its effects).

    No `organization_id` column: Stripe sends events for the platform's account; the
    organization an event concerns is in its object's metadata (`kassa_organization_id`, set
    on every payment Kassa asks for), and the processing job acts for that organization."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's evt_... id
    type: Mapped[str] = mapped_column(String(255), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=clock.now)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # What processing did: "handled", "ignored: <why>".
    outcome: Mapped[str | None] = mapped_column(String(1000), nullable=True)
