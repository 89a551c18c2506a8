"""Garbage-collector settings of a long-running process (the API server).

A GraphQL response of a few hundred objects allocates tens of thousands of small objects (field
results, futures, dicts); with Python's default first-generation threshold (700) the collector
runs many times per request and walks every object the process keeps for good (modules, the
schema, SQLAlchemy's mappers). `gc.freeze()` after start-up moves those long-lived objects out of
the collector's sight, and a higher first-generation threshold collects the short-lived ones in
fewer passes. Reference counting still frees almost everything at once; only cycles wait longer.
"""

from __future__ import annotations

import gc


def tune_garbage_collector(gen0_threshold: int) -> None:
    """Freeze what start-up allocated and raise the first-generation threshold to `gen0_threshold`
    (0 leaves Python's defaults alone)."""
    if gen0_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
