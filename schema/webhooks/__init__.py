"""GraphQL layer of webhook endpoints and events."""

from app.webhooks import scopes as webhooks_scopes

# The read scope every type of this package belongs to (schema/kit/scopes.py).
READ_SCOPE = webhooks_scopes.READ
