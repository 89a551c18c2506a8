"""`node(id:)` for this package's types (found by schema/kit/nodes.py)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from schema.kit.loaders import loader
from schema.kit.nodes import register_node


@register_node("Wallet")
async def _wallet(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.wallets.loaders import wallet_by_id
    from schema.wallets.types import Wallet

    row = await loader(info, wallet_by_id).load(id)
    return Wallet.from_model(row) if row is not None else None


@register_node("WalletTransaction")
async def _transaction(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.wallets.loaders import wallet_by_id, wallet_entry_by_id
    from schema.wallets.types import WalletTransaction

    row = await loader(info, wallet_entry_by_id).load(id)
    if row is None:
        return None
    wallet = await loader(info, wallet_by_id).load(row.wallet_id)
    return WalletTransaction.from_model(row, wallet.currency) if wallet is not None else None


@register_node("WalletHold")
async def _hold(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.wallets.holds import WalletHold
    from schema.wallets.loaders import wallet_by_id, wallet_hold_by_id

    row = await loader(info, wallet_hold_by_id).load(id)
    if row is None:
        return None
    wallet = await loader(info, wallet_by_id).load(row.wallet_id)
    return WalletHold.from_model(row, wallet.currency) if wallet is not None else None
