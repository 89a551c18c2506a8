"""GraphQL layer of a customer's members."""

from app.auth.scopes import Scope

# The read scope every type of this package belongs to (schema/kit/scopes.py).
READ_SCOPE = Scope.customers_read
