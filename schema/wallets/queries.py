"""Queries of wallets."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id
from app.wallets import scopes as wallets_scopes
from app.wallets import service
from schema.kit.errors import run_query
from schema.kit.scopes import scoped_field
from schema.wallets.types import Wallet, WalletTransaction, WalletTransactionConnection, WalletTransactionType
from schema.kit.relay import Connection


@strawberry.type
class WalletQueries:
    @scoped_field(wallets_scopes.READ, "One wallet by id; null if there is none.")
    async def wallet(self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="The wallet's global id.")]) -> Wallet | None:
        row = await run_query(info, lambda session, subject: service.get_wallet(session, subject, parse_global_id(id, "Wallet")), null_if_not_found=True)
        return Wallet.from_model(row) if row is not None else None

    @scoped_field(wallets_scopes.READ, "A customer's wallet in a currency; null if it has none yet (it opens at its first credit or use).")
    async def customer_wallet(
        self,
        info: strawberry.Info,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer's global id.")],
        currency: Annotated[str, strawberry.argument(description="The currency (ISO 4217, e.g. `usd`).")],
    ) -> Wallet | None:
        row = await run_query(
            info, lambda session, subject: service.find_wallet(session, subject, parse_global_id(customer_id, "Customer"), currency), null_if_not_found=True
        )
        return Wallet.from_model(row) if row is not None else None

    @scoped_field(wallets_scopes.READ, "A wallet's transactions, newest first, a page at a time.")
    async def wallet_transactions(
        self,
        info: strawberry.Info,
        wallet_id: Annotated[strawberry.ID, strawberry.argument(description="The wallet's global id.")],
        first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")] = None,
        types: Annotated[list[WalletTransactionType] | None, strawberry.argument(description="Only these kinds; all by default.")] = None,
        member_id: Annotated[strawberry.ID | None, strawberry.argument(description="Only the transactions of this member's usage and holds.")] = None,
    ) -> WalletTransactionConnection:
        settings = info.context.settings

        async def work(session, subject):
            wallet = await service.get_wallet(session, subject, parse_global_id(wallet_id, "Wallet"))
            page = await service.list_entries(
                session, subject.scope, wallet.id, types=[t.value for t in types] if types else None,
                member_id=parse_global_id(member_id, "Member") if member_id else None, first=first, after=after, max_page_size=settings.page_size_max,
            )
            return wallet, page

        wallet, page = await run_query(info, work)
        return Connection.from_page(page, lambda row: WalletTransaction.from_model(row, wallet.currency))
