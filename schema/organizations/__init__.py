"""GraphQL layer of the organization."""

from app.organizations import scopes as organizations_scopes

# The read scope every type of this package belongs to (schema/kit/scopes.py).
READ_SCOPE = organizations_scopes.READ
