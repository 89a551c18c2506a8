"""Queries of wallets."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id
from app.wallets import scopes as wallets_scopes
from app.wallets import service
from schema.kit.errors import run_query
from schema.kit.scopes import scoped_field
from schema.wallets.types import Wallet


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
