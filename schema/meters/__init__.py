"""GraphQL layer of meters, customer meters and billing status."""

from app.meters import scopes as meters_scopes

# The read scope every type of this package belongs to (schema/kit/scopes.py).
READ_SCOPE = meters_scopes.READ
