"""GraphQL inputs of webhooks."""

from __future__ import annotations

import strawberry

from schema.webhooks.types import WebhookEventType


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="An https URL on a public address.")
    event_types: list[WebhookEventType] = strawberry.field(description="The event types to send (at least one).")
    description: str | None = strawberry.field(default=None, description="A note for yourself.")
    enabled: bool = strawberry.field(default=True, description="Whether to send events right away.")


@strawberry.input(description="Changes to an endpoint; omitted fields stay as they are.")
class UpdateWebhookEndpointInput:
    id: strawberry.ID = strawberry.field(description="The endpoint's id.")
    url: str | None = strawberry.field(default=strawberry.UNSET, description="A new URL.")
    event_types: list[WebhookEventType] | None = strawberry.field(default=strawberry.UNSET, description="The new set of event types.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="A new note.")
    enabled: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Disable, or enable again (which clears the failure count and resumes waiting events)."
    )

    def changes(self) -> dict:
        values = {
            "url": self.url,
            "event_types": [t.value for t in self.event_types] if self.event_types else self.event_types,
            "description": self.description,
            "enabled": self.enabled,
        }
        return {key: value for key, value in values.items() if value is not strawberry.UNSET}


@strawberry.input(description="Which endpoint.")
class WebhookEndpointIdInput:
    id: strawberry.ID = strawberry.field(description="The endpoint's id.")


@strawberry.input(description="Send an event to an endpoint again.")
class RedeliverWebhookEventInput:
    event_id: strawberry.ID = strawberry.field(description="The event's id.")
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint to send it to.")
