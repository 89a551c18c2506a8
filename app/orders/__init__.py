"""Orders (what a customer owes and paid for a purchase or a subscription period), their items,
refunds, disputes, gapless invoice numbers, and the transaction ledger that reconciles with them."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = ("payments", "webhooks", "auth")
