"""Mutations on webhook endpoints and deliveries."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id
from app.webhooks import service
from app.webhooks import scopes as webhooks_scopes
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation
from schema.kit.scopes import scoped_mutation
from schema.webhooks.inputs import (
    CreateWebhookEndpointInput,
    RedeliverWebhookEventInput,
    UpdateWebhookEndpointInput,
    WebhookEndpointIdInput,
)
from schema.webhooks.types import WebhookDelivery, WebhookEndpoint

_INPUT = "What to do; see the input type."


@strawberry.type(description="The endpoint was created. Store the secret now: it is not shown again.")
class CreateWebhookEndpointSuccess:
    endpoint: WebhookEndpoint = strawberry.field(description="The new endpoint.")
    secret: str = strawberry.field(description="The signing secret (`whsec_...`), for verifying `webhook-signature`.")


@strawberry.type(description="The endpoint was updated.")
class UpdateWebhookEndpointSuccess:
    endpoint: WebhookEndpoint = strawberry.field(description="The endpoint as it is now.")


@strawberry.type(description="The endpoint has a new secret; the old one no longer signs. Store it now: it is not shown again.")
class RotateWebhookEndpointSecretSuccess:
    endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")
    secret: str = strawberry.field(description="The new signing secret.")


@strawberry.type(description="The endpoint was deleted; its past events and attempts stay readable.")
class DeleteWebhookEndpointSuccess:
    deleted_endpoint_id: strawberry.ID = strawberry.field(description="The id of the deleted endpoint.")


@strawberry.type(description="The event was queued to be sent again, with the same `webhook-id`.")
class RedeliverWebhookEventSuccess:
    delivery: WebhookDelivery = strawberry.field(description="The new delivery.")


CreateWebhookEndpointResult = mutation_result(
    "CreateWebhookEndpointResult",
    "The new endpoint and its secret, or why it was refused.",
    CreateWebhookEndpointSuccess,
    ValidationError,
)
UpdateWebhookEndpointResult = mutation_result(
    "UpdateWebhookEndpointResult",
    "The updated endpoint, or why nothing changed.",
    UpdateWebhookEndpointSuccess,
    ValidationError,
    NotFoundError,
)
RotateWebhookEndpointSecretResult = mutation_result(
    "RotateWebhookEndpointSecretResult",
    "The new secret, or why it was not rotated.",
    RotateWebhookEndpointSecretSuccess,
    NotFoundError,
)
DeleteWebhookEndpointResult = mutation_result(
    "DeleteWebhookEndpointResult",
    "The deleted endpoint's id, or why nothing was deleted.",
    DeleteWebhookEndpointSuccess,
    NotFoundError,
)
RedeliverWebhookEventResult = mutation_result(
    "RedeliverWebhookEventResult",
    "The new delivery, or why nothing was queued.",
    RedeliverWebhookEventSuccess,
    NotFoundError,
)


@strawberry.type
class WebhookMutations:
    @scoped_mutation(webhooks_scopes.WRITE, "Create a webhook endpoint. Its signing secret is returned once.")
    async def create_webhook_endpoint(
        self, info: strawberry.Info, input: Annotated[CreateWebhookEndpointInput, strawberry.argument(description=_INPUT)]
    ) -> CreateWebhookEndpointResult:
        from app.webhooks.service import EndpointDraft

        draft = EndpointDraft(
            url=input.url, event_types=[t.value for t in input.event_types], description=input.description, enabled=input.enabled
        )
        development = info.context.settings.is_development
        return await run_mutation(
            info,
            lambda session, subject: service.create_endpoint(session, subject, draft, development=development),
            lambda result: CreateWebhookEndpointSuccess(endpoint=WebhookEndpoint.from_model(result[0]), secret=result[1]),
        )

    @scoped_mutation(webhooks_scopes.WRITE, "Change an endpoint's URL, event types, note, or enable or disable it.")
    async def update_webhook_endpoint(
        self, info: strawberry.Info, input: Annotated[UpdateWebhookEndpointInput, strawberry.argument(description=_INPUT)]
    ) -> UpdateWebhookEndpointResult:
        changes = input.changes()
        development = info.context.settings.is_development
        return await run_mutation(
            info,
            lambda session, subject: service.update_endpoint(
                session, subject, parse_global_id(input.id, "WebhookEndpoint"), changes, development=development
            ),
            lambda row: UpdateWebhookEndpointSuccess(endpoint=WebhookEndpoint.from_model(row)),
        )

    @scoped_mutation(webhooks_scopes.WRITE, "Give an endpoint a new signing secret, returned once.")
    async def rotate_webhook_endpoint_secret(
        self, info: strawberry.Info, input: Annotated[WebhookEndpointIdInput, strawberry.argument(description=_INPUT)]
    ) -> RotateWebhookEndpointSecretResult:
        return await run_mutation(
            info,
            lambda session, subject: service.rotate_secret(session, subject, parse_global_id(input.id, "WebhookEndpoint")),
            lambda result: RotateWebhookEndpointSecretSuccess(endpoint=WebhookEndpoint.from_model(result[0]), secret=result[1]),
        )

    @scoped_mutation(webhooks_scopes.WRITE, "Delete an endpoint. Nothing more is sent to it.")
    async def delete_webhook_endpoint(
        self, info: strawberry.Info, input: Annotated[WebhookEndpointIdInput, strawberry.argument(description=_INPUT)]
    ) -> DeleteWebhookEndpointResult:
        return await run_mutation(
            info,
            lambda session, subject: service.delete_endpoint(session, subject, parse_global_id(input.id, "WebhookEndpoint")),
            lambda row: DeleteWebhookEndpointSuccess(deleted_endpoint_id=input.id),
        )

    @scoped_mutation(webhooks_scopes.WRITE, "Send an event to an endpoint again, with the same `webhook-id`.")
    async def redeliver_webhook_event(
        self, info: strawberry.Info, input: Annotated[RedeliverWebhookEventInput, strawberry.argument(description=_INPUT)]
    ) -> RedeliverWebhookEventResult:
        return await run_mutation(
            info,
            lambda session, subject: service.redeliver(
                session, subject, parse_global_id(input.event_id, "WebhookEvent"), parse_global_id(input.endpoint_id, "WebhookEndpoint")
            ),
            lambda row: RedeliverWebhookEventSuccess(delivery=WebhookDelivery.from_model(row)),
        )
