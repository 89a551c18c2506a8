"""Checkouts: a customer buying one product price, driven by the merchant's token or by the
customer's browser with the checkout's client secret; paid through a payment processor, or
completed without payment when nothing is due; succeeded checkouts become paid orders."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = ("subscriptions", "orders", "discounts", "customers", "members", "payments", "wallets", "webhooks", "auth")
