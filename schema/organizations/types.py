"""GraphQL types of organizations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.kit.ids import to_global_id
from app.models import Organization as OrganizationModel
from schema.kit.relay import Node


@strawberry.type(description="The merchant: the organization the access token belongs to.")
class Organization(Node):
    name: str = strawberry.field(description="The organization's name.")
    created_at: datetime = strawberry.field(description="When the organization was created.")
    warning_threshold: int = strawberry.field(description="Percent of credits used from which a meter is WARNING.")
    critical_threshold: int = strawberry.field(description="Percent of credits used from which a meter is CRITICAL.")
    exceeded_threshold: int = strawberry.field(description="Percent of credits used from which a meter is EXCEEDED.")
    dunning_retry_days: list[int] = strawberry.field(
        description="Dunning: the days between a failed renewal charge and each retry (default 2, 5, 7, 7)."
    )
    dunning_final_status: str = strawberry.field(
        description="Dunning: what a subscription becomes when the retries run out: `canceled` (ended) or `unpaid` (kept)."
    )
    dunning_grace_days: int = strawberry.field(description="Dunning: how many days a past-due subscription keeps its benefits.")

    @classmethod
    def from_model(cls, row: OrganizationModel) -> "Organization":
        return cls(
            id=strawberry.ID(to_global_id("Organization", row.id)),
            name=row.name,
            created_at=row.created_at,
            warning_threshold=row.warning_threshold,
            critical_threshold=row.critical_threshold,
            exceeded_threshold=row.exceeded_threshold,
            dunning_retry_days=list(row.dunning_retry_days),
            dunning_final_status=row.dunning_final_status,
            dunning_grace_days=row.dunning_grace_days,
        )
