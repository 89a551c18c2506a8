"""Finding, embedding and supervising PostgreSQL, Redis, the API and the workers; migrations; health."""

# The app packages this one may import, besides kit, models and config (tests/test_layers.py).
DEPENDS_ON: tuple[str, ...] = ("organizations",)
