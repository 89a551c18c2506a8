"""HTTP endpoints outside GraphQL: event ingestion, billing status, the quota check and Stripe's webhook."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = ("events", "customers", "meters", "payments", "auth", "wallets")
