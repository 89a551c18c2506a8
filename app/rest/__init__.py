"""The REST surface: a few endpoints for apps that do not speak GraphQL (Polar-compatible
ingestion, billing status, the quota pre-check). Each handler authenticates, calls one service
and owns its transaction, like a GraphQL mutation."""
