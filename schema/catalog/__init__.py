"""GraphQL layer of the product catalog."""

from app.catalog import scopes as catalog_scopes

# The read scope every type of this package belongs to (schema/kit/scopes.py).
READ_SCOPE = catalog_scopes.READ
