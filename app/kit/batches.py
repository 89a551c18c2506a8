"""Dataloader batches: rows fetched for many keys at once, put back in the order of the keys."""

from __future__ import annotations

from operator import attrgetter
from typing import Callable, Hashable, Iterable, Sequence, TypeVar

R = TypeVar("R")
K = TypeVar("K", bound=Hashable)


def in_order(rows: Iterable[R], ids: Sequence[K], key: Callable[[R], K] = attrgetter("id")) -> list[R | None]:
    """One row per id, in the order of `ids`; None where no row has that id."""
    found = {key(row): row for row in rows}
    return [found.get(i) for i in ids]


def grouped(rows: Iterable[R], keys: Sequence[K], key: Callable[[R], K]) -> list[list[R]]:
    """The rows of each key, in the order of `keys`, an empty list where there are none.

    Rows keep their order within a group; every row's key must be one of `keys`."""
    groups: dict[K, list[R]] = {k: [] for k in keys}
    for row in rows:
        groups[key(row)].append(row)
    return [groups[k] for k in keys]
