"""Access tokens, scopes, authentication and the tenant scopes it alone makes."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = ()
