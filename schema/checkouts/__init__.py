"""GraphQL layer of checkouts (the merchant's side and the customer's browser, by client secret)."""

from app.checkouts import scopes as checkouts_scopes

# The read scope every type of this package belongs to (schema/kit/scopes.py).
READ_SCOPE = checkouts_scopes.READ
