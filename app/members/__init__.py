"""A customer's members and their roles (locks its customer's row itself)."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = ("webhooks", "auth")
