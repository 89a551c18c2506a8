"""What the operation selects below a field, for resolvers that fetch ahead.

A list resolver that knows its items' nested fields are asked for can load them in the same
session use as the list (one batch, no dataloader round trip per item) instead of letting each
item ask. Fragments (inline and named) are looked through; `@skip`/`@include` are not evaluated,
so a skipped field may still be fetched ahead (one statement spent, never a wrong answer).
"""

from __future__ import annotations

from typing import Iterable

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection


def _named(selections: Iterable[Selection], name: str) -> list[SelectedField]:
    """The fields named `name` among `selections`, looking through fragments."""
    found: list[SelectedField] = []
    for selection in selections:
        if isinstance(selection, (InlineFragment, FragmentSpread)):
            found += _named(selection.selections, name)
        elif selection.name == name:
            found.append(selection)
    return found


def selects(info: strawberry.Info, *path: str) -> bool:
    """Whether the current field's selection reaches `path` (GraphQL names), e.g.
    `selects(info, "edges", "node", "members")` on a connection field."""
    level: list[Selection] = [selection for field in info.selected_fields for selection in field.selections]
    for name in path:
        fields = _named(level, name)
        if not fields:
            return False
        level = [selection for field in fields for selection in field.selections]
    return True
