"""Wallets: prepaid balances per customer and currency, drained by usage of wallet-enabled metered
prices, with holds, member budgets, top-ups (checkout and auto top-up) and their webhooks."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = (
    "customers", "members", "meters", "catalog", "subscriptions", "orders", "payments", "webhooks", "auth", "organizations",
)
