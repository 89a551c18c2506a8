"""GraphQL layer of usage events."""

from app.events import scopes as events_scopes

# The read scope every type of this package belongs to (schema/kit/scopes.py).
READ_SCOPE = events_scopes.READ
