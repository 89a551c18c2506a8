from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Integer, String, text
from sqlalchemy.dialects.postgresql import ARRAY
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
        CheckConstraint(
            "cardinality(dunning_retry_days) BETWEEN 0 AND 10 AND 1 <= ALL(dunning_retry_days) AND 60 >= ALL(dunning_retry_days)",
            name="dunning_retry_days",
        ),
        CheckConstraint("dunning_final_status IN ('canceled', 'unpaid')", name="dunning_final_status"),
        CheckConstraint("dunning_grace_days BETWEEN 0 AND 60", name="dunning_grace_days"),
        CheckConstraint(
            "wallet_minimum_top_up >= 1 AND wallet_maximum_top_up >= wallet_minimum_top_up AND wallet_low_balance_threshold >= 0",
            name="wallet_bounds",
        ),
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # billing status: percent of credits used from which a meter is warning / critical / exceeded
    warning_threshold: Mapped[int] = mapped_column(Integer, nullable=False, default=80, server_default="80")
    critical_threshold: Mapped[int] = mapped_column(Integer, nullable=False, default=95, server_default="95")
    exceeded_threshold: Mapped[int] = mapped_column(Integer, nullable=False, default=100, server_default="100")
    # dunning (app/subscriptions/dunning.py): the days between a failed renewal charge and each
    # retry; what a subscription becomes when they run out; how long its benefits stay meanwhile
    dunning_retry_days: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), nullable=False, default=lambda: [2, 5, 7, 7], server_default=text("'{2,5,7,7}'")
    )
    dunning_final_status: Mapped[str] = mapped_column(String(16), nullable=False, default="canceled", server_default="canceled")
    dunning_grace_days: Mapped[int] = mapped_column(Integer, nullable=False, default=7, server_default="7")
    # wallets (app/wallets): the bounds of one top-up, and the balance under which
    # `wallet.low_balance` is sent (minor units of the wallet's currency)
    wallet_minimum_top_up: Mapped[int] = mapped_column(BigInteger, nullable=False, default=100, server_default="100")
    wallet_maximum_top_up: Mapped[int] = mapped_column(BigInteger, nullable=False, default=1_000_000, server_default="1000000")
    wallet_low_balance_threshold: Mapped[int] = mapped_column(BigInteger, nullable=False, default=500, server_default="500")
