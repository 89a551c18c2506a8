"""Mutations on the caller's organization: its billing-status thresholds and its dunning."""

from __future__ import annotations

import enum
from typing import Annotated, Any

import strawberry

from app.meters import billing_status
from app.organizations import scopes as organizations_scopes
from app.subscriptions import dunning
from schema.kit.errors import ValidationError, mutation_result, run_mutation
from schema.kit.scopes import scoped_mutation
from schema.meters.inputs import UpdateOrganizationSettingsInput
from schema.organizations.types import Organization


@strawberry.type(description="The thresholds were changed.")
class UpdateOrganizationSettingsSuccess:
    organization: Organization = strawberry.field(description="The organization.")


UpdateOrganizationSettingsResult = mutation_result(
    "UpdateOrganizationSettingsResult",
    "The organization, or why nothing changed.",
    UpdateOrganizationSettingsSuccess,
    ValidationError,
)


@strawberry.enum(description="What a subscription becomes when dunning's retries run out.")
class DunningFinalStatus(enum.Enum):
    CANCELED = strawberry.enum_value("canceled", description="It ends (canceled now).")
    UNPAID = strawberry.enum_value("unpaid", description="It is kept, unpaid: no more renewals until you act.")


@strawberry.input(description="Changes to the organization's dunning; only the fields given change. They apply to failures from now on.")
class UpdateDunningSettingsInput:
    retry_days: list[int] | None = strawberry.field(default=strawberry.UNSET, description="The days between a failed renewal charge and each retry: at most 10 waits of 1 to 60 days (empty: no retry).")
    final_status: DunningFinalStatus | None = strawberry.field(default=strawberry.UNSET, description="What a subscription becomes when the retries run out.")
    grace_days: int | None = strawberry.field(default=strawberry.UNSET, description="How many days a past-due subscription keeps its benefits: 0 to 60.")

    def changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if self.retry_days is not strawberry.UNSET:
            changes["retry_days"] = self.retry_days
        if self.final_status is not strawberry.UNSET:
            changes["final_status"] = self.final_status.value if self.final_status is not None else None
        if self.grace_days is not strawberry.UNSET:
            changes["grace_days"] = self.grace_days
        return changes


@strawberry.type(description="The dunning settings were changed.")
class UpdateDunningSettingsSuccess:
    organization: Organization = strawberry.field(description="The organization.")


UpdateDunningSettingsResult = mutation_result(
    "UpdateDunningSettingsResult", "The organization, or why nothing changed.", UpdateDunningSettingsSuccess, ValidationError
)


@strawberry.type
class OrganizationMutations:
    @scoped_mutation(organizations_scopes.WRITE, "Change the billing-status thresholds of the organization.")
    async def update_organization_settings(
        self,
        info: strawberry.Info,
        input: Annotated[UpdateOrganizationSettingsInput, strawberry.argument(description="What to do; see the input type.")],
    ) -> UpdateOrganizationSettingsResult:
        changes = {
            "warning_threshold": input.warning_threshold,
            "critical_threshold": input.critical_threshold,
            "exceeded_threshold": input.exceeded_threshold,
        }
        return await run_mutation(
            info,
            lambda session, subject: billing_status.update_thresholds(session, subject, changes),
            lambda row: UpdateOrganizationSettingsSuccess(organization=Organization.from_model(row)),
        )

    @scoped_mutation(
        organizations_scopes.WRITE,
        "Change the organization's dunning: the retry schedule of failed renewal charges, what a subscription becomes when "
        "they run out, and how long a past-due subscription keeps its benefits.",
    )
    async def update_dunning_settings(
        self,
        info: strawberry.Info,
        input: Annotated[UpdateDunningSettingsInput, strawberry.argument(description="What to change.")],
    ) -> UpdateDunningSettingsResult:
        return await run_mutation(
            info,
            lambda session, subject: dunning.update_settings(session, subject, input.changes()),
            lambda row: UpdateDunningSettingsSuccess(organization=Organization.from_model(row)),
        )
