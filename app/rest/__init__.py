"""HTTP endpoints outside GraphQL: event ingestion, billing status and the quota check."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = ("events", "customers", "meters", "auth")
