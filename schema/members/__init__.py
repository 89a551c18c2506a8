"""GraphQL layer of a customer's members."""

from app.customers import scopes as customers_scopes

# The read scope every type of this package belongs to (schema/kit/scopes.py).
READ_SCOPE = customers_scopes.READ
