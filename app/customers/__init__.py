"""Customers (individuals and businesses) and their team; tells meters when an external id appears or changes."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = ("meters", "members", "webhooks", "auth")
