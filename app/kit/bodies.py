"""Request bodies, the same at both doors (GraphQL and REST): JSON decoding with one nesting
limit and one size-of-structure limit, and the message for a body over the size limit
(`Settings.request_max_body_size`)."""

from __future__ import annotations

from typing import Any

import msgspec

# Deeper JSON is refused before anything walks it. Kassa's own inputs need at most about 12
# levels (a meter filter nested 3 levels, as GraphQL variables); metadata values are flat.
MAX_JSON_DEPTH = 64
# At most this many objects and arrays in one body: the largest valid request (1,000 events,
# each with its metadata object) holds about 2,000; a body of a million tiny objects would cost
# seconds of conversion before any rule could refuse it.
MAX_JSON_CONTAINERS = 20_000

_decode = msgspec.json.Decoder().decode


class BodyRefused(Exception):
    """The request body is unusable: not JSON, nested too deeply or holding too many objects and
    arrays (answered with 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def decode_json_body(
    body: bytes, *, check_shape: bool = True, max_depth: int = MAX_JSON_DEPTH, max_containers: int = MAX_JSON_CONTAINERS
) -> Any:
    """The decoded body; `BodyRefused` if it is not JSON, nests deeper than `max_depth` or holds
    more than `max_containers` objects and arrays (msgspec itself gives up with a RecursionError
    near Python's recursion limit). `check_shape=False` skips the walk that counts depth and
    objects, for a door whose handler bounds its input itself before walking it (REST ingest:
    at most 1,000 events, flat metadata), where the walk would be pure cost on the hot path;
    the nesting msgspec cannot decode is refused all the same."""
    try:
        value = _decode(body)
    except msgspec.DecodeError:
        raise BodyRefused("The request body must be JSON") from None
    except RecursionError:
        raise BodyRefused(f"The request body is JSON nested deeper than {max_depth} levels") from None
    if check_shape and (type(value) is dict or type(value) is list):
        refusal = _shape_refusal(value, max_depth, max_containers)
        if refusal is not None:
            raise BodyRefused(refusal)
    return value


def _shape_refusal(value: dict | list, max_depth: int, max_containers: int) -> str | None:
    """Walks level by level (no recursion), touching each object and array once."""
    level: list[Any] = [value]
    depth, containers = 1, 1
    while level:
        if depth > max_depth:
            return f"The request body is JSON nested deeper than {max_depth} levels"
        below: list[Any] = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        containers += len(below)
        if containers > max_containers:
            return f"The request body holds more than {max_containers:,} JSON objects and arrays"
        level = below
        depth += 1
    return None


def too_large_message(limit: int) -> str:
    return f"The request body is larger than {limit:,} bytes (KASSA_REQUEST_MAX_BODY_SIZE)"
