"""Payment processors behind one small interface: Stripe (through the official SDK) and manual
(free products, offline payments the merchant records, tests)."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = ()
