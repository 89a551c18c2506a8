"""The GraphQL form of authentication errors (their checks live in schema/kit/scopes.py)."""
