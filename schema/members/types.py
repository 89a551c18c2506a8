"""GraphQL types of members."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.kit.ids import to_global_id
from app.models import Member as MemberModel
from schema.customers.loaders import customer_by_id
from schema.kit.loaders import loader
from schema.kit.relay import Node

if TYPE_CHECKING:
    from schema.customers.types import Customer


@strawberry.enum(description="What a member may do for its customer.")
class MemberRole(enum.Enum):
    OWNER = strawberry.enum_value("owner", description="Owns the customer; exactly one per customer; manages billing.")
    BILLING_MANAGER = strawberry.enum_value("billing_manager", description="Manages billing (subscriptions, payment methods, invoices).")
    MEMBER = strawberry.enum_value("member", description="Uses the product; does not manage billing.")


@strawberry.type(description="A person inside a customer: the usage actor of a business, or an individual's own self.")
class Member(Node):
    model: strawberry.Private[MemberModel]
    role: MemberRole = strawberry.field(description="Owner, billing manager or member.")
    email: str = strawberry.field(description="The member's email, unique within its customer.")
    name: str | None = strawberry.field(description="The member's name.")
    external_id: str | None = strawberry.field(description="The merchant's own id for this person, unique within its customer.")
    created_at: datetime = strawberry.field(description="When the member was added.")
    modified_at: datetime = strawberry.field(description="When the member was last changed.")
    # The customer this member was listed under (`Customer.members`/`owner`): `customer` answers
    # it as is, without a dataloader round trip for a row the response already holds.
    parent: strawberry.Private["Customer | None"] = None

    @strawberry.field(description="The id of the customer this member belongs to.")
    def customer_id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Customer", self.model.customer_id))

    @strawberry.field(description="The subscriptions this member holds a seat of (per-seat subscriptions of its customer).")
    async def subscriptions(self, info: strawberry.Info) -> list[Annotated["Subscription", strawberry.lazy("schema.subscriptions.types")]] | None:
        from schema.subscriptions.loaders import subscriptions_of_member
        from schema.subscriptions.types import Subscription

        return [Subscription.from_model(row) for row in await loader(info, subscriptions_of_member).load(self.model.id)]

    @strawberry.field(description="The wallets the member uses: its customer's, shared by all members.")
    async def wallets(self, info: strawberry.Info) -> list[Annotated["Wallet", strawberry.lazy("schema.wallets.types")]] | None:
        from schema.wallets.loaders import wallets_of_customer
        from schema.wallets.types import Wallet

        return [Wallet.from_model(row) for row in await loader(info, wallets_of_customer).load(self.model.customer_id)]

    @strawberry.field(description="The member's spending caps on the shared wallets (one per wallet that has one), with what it spent this period.")
    async def wallet_budgets(self, info: strawberry.Info) -> list[Annotated["MemberBudget", strawberry.lazy("schema.wallets.types")]] | None:
        from schema.wallets.loaders import budgets_of_member
        from schema.wallets.types import MemberBudget

        return [MemberBudget.from_model(row) for row in await loader(info, budgets_of_member).load(self.model.id)]

    @strawberry.field(description="What the member's usage and captured holds took from each shared wallet this calendar month (UTC); wallets it did not spend from are left out.")
    async def wallet_spend(self, info: strawberry.Info) -> list[Annotated["MemberWalletSpend", strawberry.lazy("schema.wallets.types")]] | None:
        from schema.kit.money import Money
        from schema.wallets.loaders import month_spend_of_member
        from schema.wallets.types import MemberWalletSpend

        return [
            MemberWalletSpend(wallet_id=strawberry.ID(to_global_id("Wallet", s.wallet_id)), period_start=s.period_start, spent=Money(amount=s.spent, currency=s.currency))
            for s in await loader(info, month_spend_of_member).load(self.model.id)
        ]

    @strawberry.field(description="The customer this member belongs to.")
    def customer(self, info: strawberry.Info) -> Annotated["Customer", strawberry.lazy("schema.customers.types")]:
        # Not a coroutine function: graphql-core awaits the load only when there is one.
        if self.parent is not None:
            return self.parent
        return self._load_customer(info)

    async def _load_customer(self, info: strawberry.Info) -> Any:
        from schema.customers.types import customer_from_model

        return customer_from_model(await loader(info, customer_by_id).load(self.model.customer_id))

    @classmethod
    def from_model(cls, row: MemberModel, parent: "Customer | None" = None) -> "Member":
        """`parent`: the customer object it is listed under, if any (its `customer`)."""
        return cls(
            model=row,
            parent=parent,
            id=strawberry.ID(to_global_id("Member", row.id)),
            role=MemberRole(row.role),
            email=row.email,
            name=row.name,
            external_id=row.external_id,
            created_at=row.created_at,
            modified_at=row.modified_at,
        )
