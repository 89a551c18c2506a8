"""GraphQL layer of live updates: the `Live` root (subscription operations over
graphql-transport-ws, see schema/live/transport.py) and the updates it streams."""

from app.wallets import scopes as wallets_scopes

# The read scope the package's types belong to (schema/kit/scopes.py): they show wallets (the
# meters' live update type is in schema/meters/live.py). The `Live` root is a root: each of its
# fields states its own scope.
READ_SCOPE = wallets_scopes.READ
