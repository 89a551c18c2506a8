"""`node(id:)` and `nodes(ids:)`: fetch any object by its global id, within the caller's scopes."""

from __future__ import annotations

from typing import Annotated

import uuid
from typing import Any, Awaitable, Callable

import strawberry

from app.kit.errors import NotFound
from app.kit.ids import from_global_id
from schema.kit.errors import BadRequest, run_query
from schema.kit.loaders import loader
from schema.kit.relay import Node
from schema.kit.scopes import require


async def _customer(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.customers.loaders import customer_by_id
    from schema.customers.types import customer_from_model

    row = await loader(info, customer_by_id).load(id)
    return customer_from_model(row) if row is not None else None


async def _member(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.members.loaders import member_by_id
    from schema.members.types import Member

    row = await loader(info, member_by_id).load(id)
    return Member.from_model(row) if row is not None else None


async def _organization(info: strawberry.Info, id: uuid.UUID) -> Any:
    from app.organizations import service
    from schema.organizations.types import Organization

    if id != info.context.subject.organization_id:
        return None
    row = await info.context.db.run(lambda session: service.get_current(session, info.context.subject))
    return Organization.from_model(row)


async def _webhook_endpoint(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.webhooks.loaders import webhook_endpoint_by_id
    from schema.webhooks.types import WebhookEndpoint

    row = await loader(info, webhook_endpoint_by_id).load(id)
    return WebhookEndpoint.from_model(row) if row is not None and row.deleted_at is None else None


async def _webhook_event(info: strawberry.Info, id: uuid.UUID) -> Any:
    from app.webhooks import service
    from schema.webhooks.types import WebhookEvent

    row = await run_query(info, lambda session, subject: service.get_event(session, subject, id), null_if_not_found=True)
    return WebhookEvent.from_model(row) if row is not None else None


async def _product(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.catalog.loaders import product_by_id
    from schema.catalog.types import Product

    row = await loader(info, product_by_id).load(id)
    return Product.from_model(row) if row is not None else None


async def _product_price(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.catalog.loaders import price_by_id
    from schema.catalog.types import price_from_model

    row = await loader(info, price_by_id).load(id)
    return price_from_model(row) if row is not None else None


async def _meter(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.meters.loaders import meter_by_id
    from schema.meters.types import Meter

    row = await loader(info, meter_by_id).load(id)
    return Meter.from_model(row) if row is not None else None


async def _discount(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.discounts.loaders import discount_by_id
    from schema.discounts.types import Discount

    row = await loader(info, discount_by_id).load(id)
    return Discount.from_model(row) if row is not None else None


# type name in the global id -> loader. The scope needed is the type's own (schema.kit.scopes):
# the same map that guards nested fields.
NODE_RESOLVERS: dict[str, Callable[[strawberry.Info, uuid.UUID], Awaitable[Any]]] = {
    "Customer": _customer,
    "Member": _member,
    "Organization": _organization,
    "Product": _product,
    "ProductPrice": _product_price,
    "WebhookEndpoint": _webhook_endpoint,
    "Meter": _meter,
    "WebhookEvent": _webhook_event,
    "Discount": _discount,
}


async def resolve_node(info: strawberry.Info, global_id: str) -> Node | None:
    require(info, None)  # an anonymous caller learns nothing, not even that an id is malformed
    try:
        type_name, id = from_global_id(global_id)
    except NotFound:
        return None
    load = NODE_RESOLVERS.get(type_name)
    scope = info.schema.type_scopes.get(type_name)
    if load is None or scope is None:
        return None
    require(info, scope)
    return await load(info, id)


@strawberry.type
class NodeQueries:
    @strawberry.field(description="Any object by its global id; null if it does not exist or is not yours. Needs the read scope of the object's type.")
    async def node(self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")]) -> Node | None:
        return await resolve_node(info, id)

    @strawberry.field(description="Several objects by their global ids, in the same order; null where one does not exist (at most 100 ids). Needs the read scope of each object's type.")
    async def nodes(
        self, info: strawberry.Info, ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global ids.")]
    ) -> list[Node | None]:
        import asyncio

        if len(ids) > info.context.settings.page_size_max:
            raise BadRequest(f"At most {info.context.settings.page_size_max} ids")
        return list(await asyncio.gather(*(resolve_node(info, id) for id in ids)))
