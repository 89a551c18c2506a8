"""Subscriptions: created from a succeeded checkout of a recurring product, renewed each period
exactly once by the workers (a billing entry and a renewal order, charged off-session), and their
lifecycle."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = ("orders", "discounts", "payments", "organizations", "webhooks", "auth", "catalog", "meters", "events")
