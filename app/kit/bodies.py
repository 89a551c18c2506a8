"""Request bodies, the same at both doors (GraphQL and REST): JSON decoding with one nesting
limit, and the message for a body over the size limit (`Settings.request_max_body_size`)."""

from __future__ import annotations

from typing import Any

import msgspec

# Deeper JSON is refused before anything walks it. Kassa's own inputs need at most about 12
# levels (a meter filter nested 3 levels, as GraphQL variables); metadata values are flat.
MAX_JSON_DEPTH = 64

_decode = msgspec.json.Decoder().decode


class BodyRefused(Exception):
    """The request body is unusable: not JSON, or nested too deeply (answered with 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def decode_json_body(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The decoded body; `BodyRefused` if it is not JSON or nests deeper than `max_depth`
    (msgspec itself gives up with a RecursionError near Python's recursion limit)."""
    try:
        value = _decode(body)
    except msgspec.DecodeError:
        raise BodyRefused("The request body must be JSON") from None
    except RecursionError:
        raise BodyRefused(_too_deep(max_depth)) from None
    if (type(value) is dict or type(value) is list) and _deeper_than(value, max_depth):
        raise BodyRefused(_too_deep(max_depth))
    return value


def _too_deep(max_depth: int) -> str:
    return f"The request body is JSON nested deeper than {max_depth} levels"


def _deeper_than(value: dict | list, max_depth: int) -> bool:
    """Walks level by level (no recursion), touching each container once."""
    level: list[Any] = [value]
    depth = 1
    while level:
        if depth > max_depth:
            return True
        below: list[Any] = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
        depth += 1
    return False


def too_large_message(limit: int) -> str:
    return f"The request body is larger than {limit:,} bytes (KASSA_REQUEST_MAX_BODY_SIZE)"
