"""Relay building blocks: the Node interface and cursor connections."""

from __future__ import annotations

from typing import Awaitable, Callable, Generic, TypeVar

import strawberry

from app.kit.pagination import Page

T = TypeVar("T")


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="The global id of the object.")


@strawberry.type(description="Where a page sits in its list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow this page.")
    has_previous_page: bool = strawberry.field(description="Whether items precede this page.")
    start_cursor: str | None = strawberry.field(description="The cursor of the first item of this page.")
    end_cursor: str | None = strawberry.field(description="The cursor of the last item; pass it as `after` for the next page.")


@strawberry.type(description="One item of a list, with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Pass as `after` to list the items after this one.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, paginated with `first` and `after`.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page with their cursors.")
    nodes: list[T] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")
    count: strawberry.Private[Callable[[], Awaitable[int]] | None]

    @strawberry.field(
        description="How many items match the filter, across all pages (costs one extra query). "
        "Lists that can grow without bound (events, webhooks, meters) do not count and answer an error."
    )
    async def total_count(self) -> int:
        if self.count is None:
            from schema.kit.errors import BadRequest

            raise BadRequest("totalCount is not available on this list")
        return await self.count()

    @classmethod
    def from_page(cls, page: Page, convert: Callable, count: Callable[[], Awaitable[int]] | None = None) -> "Connection":
        nodes = [convert(item) for item in page.items]
        return cls(
            edges=[Edge(cursor=c, node=n) for c, n in zip(page.cursors, nodes)],
            nodes=nodes,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            count=count,
        )
