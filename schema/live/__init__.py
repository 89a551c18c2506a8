"""GraphQL layer of live updates: the `Live` root (subscription operations over
graphql-transport-ws, see schema/live/transport.py) and the updates it streams."""

from app.wallets import scopes as wallets_scopes

# The read scope the package's types belong to (schema/kit/scopes.py). The types here are leaves
# (ids, Money, decimals, enums): no nested field leads into another scope. Each root field states
# its own scope (`walletUpdates`: wallets:read; `customerMeterUpdates`: meters:read).
READ_SCOPE = wallets_scopes.READ
