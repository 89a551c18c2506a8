"""Usage events: ingestion, credits and resets. Names customers, members and meters."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = ("customers", "meters", "members", "auth")
