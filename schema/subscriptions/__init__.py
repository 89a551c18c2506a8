"""GraphQL layer of subscriptions and their billing entries."""

from app.subscriptions import scopes as subscriptions_scopes

# The read scope every type of this package belongs to (schema/kit/scopes.py).
READ_SCOPE = subscriptions_scopes.READ
