"""Mutations on the caller's organization: its billing-status thresholds."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.meters import billing_status
from app.organizations import scopes as organizations_scopes
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
