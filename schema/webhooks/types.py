"""GraphQL types of webhooks: endpoints, events, deliveries and attempts."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from app.kit.ids import to_global_id
from app.models import WebhookDelivery as DeliveryModel
from app.models import WebhookDeliveryAttempt as AttemptModel
from app.models import WebhookEndpoint as EndpointModel
from app.models import WebhookEvent as EventModel
from app.models import WebhookEventType as EventTypeModel
from schema.kit.loaders import loader
from schema.kit.relay import Connection, Node
from schema.webhooks.loaders import attempts_of_delivery, deliveries_of_event, webhook_endpoint_by_id

_TYPE_DESCRIPTIONS = {
    "customer.created": "A customer was created.",
    "customer.updated": "A customer's fields changed (also when it became a business).",
    "customer.deleted": "A customer was deleted.",
    "member.created": "A member was added to a customer (also each member created with a customer).",
    "member.updated": "A member's fields or role changed (also on ownership transfer).",
    "member.deleted": "A member was removed (also each member of a deleted customer).",
    "customer.state_changed": "A customer's meter crossed a billing-status threshold (ok, warning, critical, exceeded), either way.",
    "checkout.created": "A checkout was created.",
    "checkout.updated": "A checkout changed: its customer data, amounts or status (confirmed, succeeded, failed).",
    "checkout.expired": "An open checkout expired unpaid.",
    "order.created": "An order was created (pending until paid).",
    "order.paid": "An order was paid (or completed with nothing due).",
    "order.updated": "An order changed: paid, refunded, disputed.",
    "order.refunded": "Some or all of an order was refunded.",
    "refund.created": "A refund was made (through Kassa or at the payment processor).",
    "subscription.created": "A subscription was created (a checkout of a recurring product succeeded).",
    "subscription.updated": "A subscription changed (every change also sends its own event below).",
    "subscription.active": "A subscription became active: its trial ended into a paid period, or a late payment came.",
    "subscription.canceled": "A subscription was canceled: at the end of its period (`cancelAtPeriodEnd`), or it ended.",
    "subscription.uncanceled": "A cancellation at the period's end was taken back.",
    "subscription.revoked": "A subscription ended at once.",
    "subscription.past_due": "A renewal's payment failed: the subscription is past due.",
    "customer_seat.assigned": "A seat of a per-seat subscription was given to a member, or offered by email.",
    "customer_seat.claimed": "A seat was taken: given to a member directly, or its invitation claimed.",
    "customer_seat.revoked": "A seat was taken back (it no longer counts against the subscription's seats).",
    "subscription.cycled": "A subscription renewed: a new period, its billing entry and its renewal order.",
    "subscription.paused": "A subscription reached the end of its period with a pause asked for: it is paused, not renewed (no order).",
    "subscription.resumed": "A pause was taken back, or a paused subscription started a new period (its order charged).",
    "wallet.balance_updated": "A wallet's balance changed: the latest balance and the transactions since the last such event (at most one per wallet per second).",
    "wallet.low_balance": "A wallet's balance fell under the organization's low-balance threshold (once per crossing).",
    "wallet.depleted": "A wallet's balance reached zero (once per crossing).",
    "wallet.auto_top_up_succeeded": "An auto top-up was paid and credited to the wallet.",
    "wallet.auto_top_up_failed": "An auto top-up's payment failed; after repeated failures auto top-up pauses until the payment method changes.",
}

WebhookEventType = strawberry.enum(
    enum.Enum(
        "WebhookEventType",
        {t.name.upper(): strawberry.enum_value(t.value, description=_TYPE_DESCRIPTIONS[t.value]) for t in EventTypeModel},
    ),
    description="A kind of event; its value in payloads is the dotted name, e.g. `customer.created`.",
)


@strawberry.enum(description="Where a delivery stands.")
class WebhookDeliveryStatus(enum.Enum):
    PENDING = strawberry.enum_value("pending", description="Not delivered yet; waiting for its first try or a retry.")
    SUCCEEDED = strawberry.enum_value("succeeded", description="The endpoint answered 2xx.")
    FAILED = strawberry.enum_value("failed", description="Every retry failed; the event was given up for this endpoint.")


@strawberry.type(description="A URL of the merchant's that receives signed webhooks for the event types it subscribes to.")
class WebhookEndpoint(Node):
    model: strawberry.Private[EndpointModel]
    url: str = strawberry.field(description="Where events are POSTed.")
    description: str | None = strawberry.field(description="The merchant's note about this endpoint.")
    event_types: list[WebhookEventType] = strawberry.field(description="The event types sent to this endpoint.")
    enabled: bool = strawberry.field(description="Whether events are sent. Kassa disables an endpoint that keeps failing.")
    consecutive_failures: int = strawberry.field(description="Events in a row that failed every retry; reset by a success.")
    disabled_at: datetime | None = strawberry.field(description="When Kassa disabled the endpoint for failing, if it did.")
    disabled_reason: str | None = strawberry.field(description="Why Kassa disabled the endpoint; cleared when it is enabled again.")
    created_at: datetime = strawberry.field(description="When the endpoint was created.")

    @classmethod
    def from_model(cls, row: EndpointModel) -> "WebhookEndpoint":
        return cls(
            model=row,
            id=strawberry.ID(to_global_id("WebhookEndpoint", row.id)),
            url=row.url,
            description=row.description,
            event_types=[WebhookEventType(t) for t in row.event_types],
            enabled=row.enabled,
            consecutive_failures=row.consecutive_failures,
            disabled_at=row.disabled_at,
            disabled_reason=row.disabled_reason,
            created_at=row.created_at,
        )


@strawberry.type(description="One HTTP request of a delivery.")
class WebhookDeliveryAttempt:
    attempted_at: datetime = strawberry.field(description="When the request was sent.")
    succeeded: bool = strawberry.field(description="Whether the endpoint answered 2xx.")
    status_code: int | None = strawberry.field(description="The HTTP status, if a response came.")
    duration_ms: int = strawberry.field(description="How long the request took, in milliseconds.")
    response_excerpt: str | None = strawberry.field(description="The first 1,024 characters of the response body.")
    error: str | None = strawberry.field(description="Why no usable response came (timeout, connection refused, address not allowed).")

    @classmethod
    def from_model(cls, row: AttemptModel) -> "WebhookDeliveryAttempt":
        return cls(
            attempted_at=row.attempted_at,
            succeeded=row.succeeded,
            status_code=row.status_code,
            duration_ms=row.duration_ms,
            response_excerpt=row.response_excerpt,
            error=row.error,
        )


@strawberry.type(description="One event on its way to one endpoint, with every attempt.")
class WebhookDelivery(Node):
    model: strawberry.Private[DeliveryModel]
    status: WebhookDeliveryStatus = strawberry.field(description="Pending, succeeded or failed.")
    attempt_count: int = strawberry.field(description="How many requests were sent.")
    next_attempt_at: datetime | None = strawberry.field(description="When the next try is due, while pending.")
    finished_at: datetime | None = strawberry.field(description="When it succeeded or was given up.")
    created_at: datetime = strawberry.field(description="When the delivery was created (with its event, or by a redelivery).")

    @strawberry.field(description="The endpoint it goes to.")
    async def endpoint(self, info: strawberry.Info) -> WebhookEndpoint:
        return WebhookEndpoint.from_model(await loader(info, webhook_endpoint_by_id).load(self.model.endpoint_id))

    @strawberry.field(description="Every request sent, oldest first.")
    async def attempts(self, info: strawberry.Info) -> list[WebhookDeliveryAttempt]:
        rows = await loader(info, attempts_of_delivery).load(self.model.id)
        return [WebhookDeliveryAttempt.from_model(row) for row in rows]

    @classmethod
    def from_model(cls, row: DeliveryModel) -> "WebhookDelivery":
        return cls(
            model=row,
            id=strawberry.ID(to_global_id("WebhookDelivery", row.id)),
            status=WebhookDeliveryStatus(row.status),
            attempt_count=row.attempt_count,
            next_attempt_at=row.next_attempt_at,
            finished_at=row.finished_at,
            created_at=row.created_at,
        )


@strawberry.type(description="Something that happened, as sent to webhook endpoints. Its id is the `webhook-id` header.")
class WebhookEvent(Node):
    model: strawberry.Private[EventModel]
    type: WebhookEventType = strawberry.field(description="The kind of event.")
    payload: JSON = strawberry.field(description="The body sent: `{type, timestamp, data}`.")
    created_at: datetime = strawberry.field(description="When it happened.")

    @strawberry.field(description="The `webhook-id` header value sent with this event (the same on every retry).")
    def webhook_id(self) -> str:
        return str(self.model.id)

    @strawberry.field(description="Its deliveries, one per subscribed endpoint, plus redeliveries.")
    async def deliveries(self, info: strawberry.Info) -> list[WebhookDelivery]:
        rows = await loader(info, deliveries_of_event).load(self.model.id)
        return [WebhookDelivery.from_model(row) for row in rows]

    @classmethod
    def from_model(cls, row: EventModel) -> "WebhookEvent":
        return cls(
            model=row,
            id=strawberry.ID(to_global_id("WebhookEvent", row.id)),
            type=WebhookEventType(row.type),
            payload=row.payload,
            created_at=row.created_at,
        )


WebhookEndpointConnection = Connection[WebhookEndpoint]
WebhookEventConnection = Connection[WebhookEvent]
