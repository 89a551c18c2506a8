"""Discounts (fixed or percentage, with durations, codes, limits and expiry) and their redemptions,
tax rates per billing country, and the one amounts calculation (subtotal, discount, net, tax,
total) that checkouts and orders use."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = ("auth",)
