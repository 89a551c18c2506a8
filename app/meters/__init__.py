"""Meters: definitions, counting events into customer meters, billing status and quota."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = ("members", "webhooks", "organizations", "auth")
