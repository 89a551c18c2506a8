"""GraphQL types of customers: the `Customer` interface and its two kinds."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from app.kit.ids import to_global_id
from app.models import Customer as CustomerModel
from app.models import CustomerType as CustomerTypeModel
from app.models import Member as MemberModel
from schema.kit.address import Address
from schema.kit.loaders import loader
from schema.kit.relay import Connection, Node
from schema.members.loaders import members_of_customer
from schema.meters.loaders import meters_of_customer

if TYPE_CHECKING:
    from schema.members.types import Member


@strawberry.enum(description="Whether a customer is a person or a business with members.")
class CustomerType(enum.Enum):
    INDIVIDUAL = strawberry.enum_value("individual", description="A person; its only member is itself, the owner.")
    BUSINESS = strawberry.enum_value("business", description="A company; it has an owner and any number of members.")


@strawberry.interface(description="Who pays: an individual or a business. Ids stay the same when an individual becomes a business.")
class Customer(Node):
    model: strawberry.Private[CustomerModel]
    type: CustomerType = strawberry.field(description="Individual or business.")
    external_id: str | None = strawberry.field(description="The merchant's own id for this customer, unique in the organization.")
    email: str = strawberry.field(description="The billing email.")
    name: str | None = strawberry.field(description="The display name of the person or business.")
    billing_name: str | None = strawberry.field(description="The name printed on invoices, when it differs from `name`.")
    billing_address: Address | None = strawberry.field(description="The billing address.")
    tax_id: str | None = strawberry.field(description="The tax identification number (VAT, EIN, ...).")
    metadata: JSON = strawberry.field(description="The merchant's own key-value data (at most 50 keys).")
    created_at: datetime = strawberry.field(description="When the customer was created.")
    modified_at: datetime = strawberry.field(description="When the customer was last changed.")
    # The active members, owner first, when the list that produced this object fetched them ahead
    # (`customers` does when the selection asks for members); None: ask the dataloader.
    member_rows: strawberry.Private[list[MemberModel] | None] = None

    @classmethod
    def resolve_type(cls, obj: Any, _info: Any, _abstract_type: Any) -> str:
        """The concrete type of a `Customer` value: one attribute read, instead of strawberry's
        generic search through the possible types."""
        return type(obj).__strawberry_definition__.name

    # `members` and `owner` are not coroutine functions: with the rows at hand they answer at
    # once; otherwise they return the dataloader's awaitable, which graphql-core awaits.
    @strawberry.field(description="The active members, owner first.")
    def members(self, info: strawberry.Info) -> list[Annotated["Member", strawberry.lazy("schema.members.types")]]:
        if self.member_rows is not None:
            return self._members(self.member_rows)
        return self._load_members(info)

    def _members(self, rows: list[MemberModel]) -> list[Any]:
        from schema.members.types import Member

        return [Member.from_model(row, self) for row in rows]

    async def _load_members(self, info: strawberry.Info) -> list[Any]:
        return self._members(await loader(info, members_of_customer).load(self.model.id))

    @strawberry.field(description="Running totals per active meter (consumed, credited, balance).")
    async def meters(self, info: strawberry.Info) -> list[Annotated["CustomerMeter", strawberry.lazy("schema.meters.types")]] | None:
        from schema.meters.types import CustomerMeter

        rows = await loader(info, meters_of_customer).load(self.model.id)
        return [CustomerMeter.from_model(row) for row in rows]

    @strawberry.field(description="The customer's newest orders (up to 10; the `orders` query pages through all of them).")
    async def orders(self, info: strawberry.Info) -> list[Annotated["Order", strawberry.lazy("schema.orders.types")]] | None:
        from schema.orders.loaders import orders_of_customer
        from schema.orders.types import Order

        rows = await loader(info, orders_of_customer).load(self.model.id)
        return [Order.from_model(row) for row in rows]

    @strawberry.field(description="The customer's subscriptions, newest first, whatever their status.")
    async def subscriptions(self, info: strawberry.Info) -> list[Annotated["Subscription", strawberry.lazy("schema.subscriptions.types")]] | None:
        from schema.subscriptions.loaders import subscriptions_of_customer
        from schema.subscriptions.types import Subscription

        rows = await loader(info, subscriptions_of_customer).load(self.model.id)
        return [Subscription.from_model(row) for row in rows]

    @strawberry.field(description="The customer's wallets, one per currency (a business customer's are shared by its members).")
    async def wallets(self, info: strawberry.Info) -> list[Annotated["Wallet", strawberry.lazy("schema.wallets.types")]] | None:
        from schema.wallets.loaders import wallets_of_customer
        from schema.wallets.types import Wallet

        return [Wallet.from_model(row) for row in await loader(info, wallets_of_customer).load(self.model.id)]

    @strawberry.field(
        description="Usage of wallet-enabled prices its wallets did not pay (the balance or a member's budget ran out), summed per currency, meter and member: "
        "lost to the merchant, never a debt."
    )
    async def uncovered_usage(self, info: strawberry.Info) -> list[Annotated["UncoveredUsage", strawberry.lazy("schema.wallets.types")]] | None:
        from schema.wallets.loaders import uncovered_of_customer
        from schema.wallets.types import UncoveredUsage

        return [UncoveredUsage.from_total(total) for total in await loader(info, uncovered_of_customer).load(self.model.id)]

    @strawberry.field(description="The member who owns the customer; exactly one per customer.")
    def owner(self, info: strawberry.Info) -> Annotated["Member", strawberry.lazy("schema.members.types")] | None:
        if self.member_rows is not None:
            return self._owner(self.member_rows)
        return self._load_owner(info)

    def _owner(self, rows: list[MemberModel]) -> Any:
        from schema.members.types import Member

        owner = next((row for row in rows if row.role == "owner"), None)
        return Member.from_model(owner, self) if owner is not None else None

    async def _load_owner(self, info: strawberry.Info) -> Any:
        return self._owner(await loader(info, members_of_customer).load(self.model.id))


@strawberry.type(description="A person who pays for themselves. Its only member is its owner, mirrored from the customer.")
class IndividualCustomer(Customer):
    pass


@strawberry.type(description="A business with an owner, billing managers and members.")
class BusinessCustomer(Customer):
    pass


def customer_from_model(row: CustomerModel, member_rows: list[MemberModel] | None = None) -> Customer:
    """`member_rows`: its active members, owner first, when the caller fetched them ahead."""
    cls = BusinessCustomer if row.type == CustomerTypeModel.business.value else IndividualCustomer
    address = row.billing_address
    return cls(
        model=row,
        id=strawberry.ID(to_global_id("Customer", row.id)),
        type=CustomerType(row.type),
        external_id=row.external_id,
        email=row.email,
        name=row.name,
        billing_name=row.billing_name,
        billing_address=Address.of(address),
        tax_id=row.tax_id,
        metadata=row.user_metadata,
        created_at=row.created_at,
        modified_at=row.modified_at,
        member_rows=member_rows,
    )


CustomerConnection = Connection[Customer]
