"""GraphQL layer of wallets: balances, their transactions, holds, budgets and uncovered usage."""

from app.wallets import scopes as wallets_scopes

# The read scope every type of this package belongs to (schema/kit/scopes.py).
READ_SCOPE = wallets_scopes.READ
