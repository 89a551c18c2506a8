"""`node(id:)` and `nodes(ids:)`: fetch any object by its global id, within the caller's scopes."""

from __future__ import annotations

from typing import Annotated

import uuid
from typing import Any, Awaitable, Callable

import strawberry

from app.kit.errors import NotFound
from app.kit.ids import from_global_id
from schema.kit.errors import BadRequest
from schema.kit.relay import Node
from schema.kit.scopes import require


# type name in the global id -> its resolver, registered by each schema package's `nodes.py`
# (`@register_node("Customer")`), found by looking the first time a node is asked for. The scope
# needed is the type's own (schema.kit.scopes): the same map that guards nested fields.
NODE_RESOLVERS: dict[str, Callable[[strawberry.Info, uuid.UUID], Awaitable[Any]]] = {}
_discovered = False


def register_node(type_name: str) -> Callable[[Callable[[strawberry.Info, uuid.UUID], Awaitable[Any]]], Callable[[strawberry.Info, uuid.UUID], Awaitable[Any]]]:
    def register(resolver: Callable[[strawberry.Info, uuid.UUID], Awaitable[Any]]) -> Callable[[strawberry.Info, uuid.UUID], Awaitable[Any]]:
        NODE_RESOLVERS[type_name] = resolver
        return resolver

    return register


def node_resolvers() -> dict[str, Callable[[strawberry.Info, uuid.UUID], Awaitable[Any]]]:
    """Every registered resolver: each `schema/<package>/nodes.py` is imported once, first."""
    global _discovered
    if not _discovered:
        import importlib
        import importlib.util
        import pkgutil

        import schema

        for module in pkgutil.iter_modules(schema.__path__):
            if module.ispkg and importlib.util.find_spec(f"schema.{module.name}.nodes") is not None:
                importlib.import_module(f"schema.{module.name}.nodes")
        _discovered = True
    return NODE_RESOLVERS


async def resolve_node(info: strawberry.Info, global_id: str) -> Node | None:
    require(info, None)  # an anonymous caller learns nothing, not even that an id is malformed
    try:
        type_name, id = from_global_id(global_id)
    except NotFound:
        return None
    load = node_resolvers().get(type_name)
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
