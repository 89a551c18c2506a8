"""Per-request dataloaders: one SQL statement per batch, whatever the number of parents.

Each batch takes the request's session through the gate (`SessionGate.run`), so concurrent
batches of different loaders never use the session at the same time, and a batch cancelled
because the operation already failed elsewhere finishes its statement instead of breaking the
connection.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from app.catalog import service as catalog
from app.customers import service as customers
from app.members import service as members
from app.meters import service as meters
from app.models import CustomerMeter, CustomerMeterMember, Meter
from app.models import Customer, Member, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from app.models import Product, ProductPrice
from app.webhooks import service as webhooks

if TYPE_CHECKING:
    from schema.context import Context


class Loaders:
    def __init__(self, context: "Context") -> None:
        self._context = context
        self.customer = DataLoader[uuid.UUID, Customer | None](self._customers)
        self.meter = DataLoader[uuid.UUID, Meter | None](self._meters)
        self.meters_of_customer = DataLoader[uuid.UUID, list[CustomerMeter]](self._meters_of_customers)
        self.member_meters_of_customer = DataLoader[uuid.UUID, list[CustomerMeterMember]](self._member_meters_of_customers)
        self.members_of_customer = DataLoader[uuid.UUID, list[Member]](self._members_of_customers)
        self.member = DataLoader[uuid.UUID, Member | None](self._members)
        self.webhook_endpoint = DataLoader[uuid.UUID, WebhookEndpoint | None](self._webhook_endpoints)
        self.webhook_deliveries_of_event = DataLoader[uuid.UUID, list[WebhookDelivery]](self._deliveries_of_events)
        self.webhook_attempts_of_delivery = DataLoader[uuid.UUID, list[WebhookDeliveryAttempt]](self._attempts_of_deliveries)
        self.product = DataLoader[uuid.UUID, Product | None](self._products)
        self.product_price = DataLoader[uuid.UUID, ProductPrice | None](self._product_prices)
        self.prices_of_product = DataLoader[uuid.UUID, list[ProductPrice]](self._prices_of_products)

    @property
    def _organization_id(self) -> uuid.UUID:
        assert self._context.subject is not None
        return self._context.subject.organization_id

    async def _customers(self, ids: list[uuid.UUID]) -> list[Customer | None]:
        return await self._context.db.run(lambda session: customers.load_customers(session, self._organization_id, ids))

    async def _members_of_customers(self, ids: list[uuid.UUID]) -> list[list[Member]]:
        return await self._context.db.run(lambda session: members.load_members_of(session, self._organization_id, ids))

    async def _members(self, ids: list[uuid.UUID]) -> list[Member | None]:
        return await self._context.db.run(lambda session: members.load_members(session, self._organization_id, ids))

    async def _webhook_endpoints(self, ids: list[uuid.UUID]) -> list[WebhookEndpoint | None]:
        return await self._context.db.run(lambda session: webhooks.load_endpoints(session, self._organization_id, ids))

    async def _deliveries_of_events(self, ids: list[uuid.UUID]) -> list[list[WebhookDelivery]]:
        return await self._context.db.run(lambda session: webhooks.load_deliveries_of(session, self._organization_id, ids))

    async def _attempts_of_deliveries(self, ids: list[uuid.UUID]) -> list[list[WebhookDeliveryAttempt]]:
        return await self._context.db.run(lambda session: webhooks.load_attempts_of(session, self._organization_id, ids))

    async def _meters(self, ids: list[uuid.UUID]) -> list[Meter | None]:
        return await self._context.db.run(lambda session: meters.load_meters(session, self._organization_id, ids))

    async def _meters_of_customers(self, ids: list[uuid.UUID]) -> list[list[CustomerMeter]]:
        return await self._context.db.run(lambda session: meters.load_customer_meters(session, self._organization_id, ids))

    async def _member_meters_of_customers(self, ids: list[uuid.UUID]) -> list[list[CustomerMeterMember]]:
        return await self._context.db.run(lambda session: meters.load_member_meters(session, self._organization_id, ids))

    def prime_customers(self, rows: list[Customer]) -> None:
        for row in rows:
            self.customer.prime(row.id, row, force=True)

    async def _products(self, ids: list[uuid.UUID]) -> list[Product | None]:
        return await self._context.db.run(lambda session: catalog.load_products(session, self._organization_id, ids))

    async def _product_prices(self, ids: list[uuid.UUID]) -> list[ProductPrice | None]:
        return await self._context.db.run(lambda session: catalog.load_prices(session, self._organization_id, ids))

    async def _prices_of_products(self, ids: list[uuid.UUID]) -> list[list[ProductPrice]]:
        return await self._context.db.run(lambda session: catalog.load_prices_of(session, self._organization_id, ids))

    def prime_products(self, rows: list[Product]) -> None:
        for row in rows:
            self.product.prime(row.id, row, force=True)
