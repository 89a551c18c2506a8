"""GraphQL layer of orders, their items, refunds and transactions."""

from app.orders import scopes as orders_scopes

# The read scope every type of this package belongs to (schema/kit/scopes.py).
READ_SCOPE = orders_scopes.READ
