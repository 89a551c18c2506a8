"""GraphQL layer of meters, customer meters and billing status."""

from app.auth.scopes import Scope

# The read scope every type of this package belongs to (schema/kit/scopes.py).
READ_SCOPE = Scope.meters_read
