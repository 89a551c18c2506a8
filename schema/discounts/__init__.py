"""GraphQL layer of discounts and tax rates."""

from app.discounts import scopes as discounts_scopes

# The read scope every type of this package belongs to (schema/kit/scopes.py).
READ_SCOPE = discounts_scopes.READ
