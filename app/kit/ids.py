"""Relay global ids: base64url("TypeName:uuid") without padding."""

from __future__ import annotations

import base64
import binascii
import uuid

from app.kit.errors import NotFound


def to_global_id(type_name: str, id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{id}".encode()).rstrip(b"=").decode()


def from_global_id(global_id: str) -> tuple[str, uuid.UUID]:
    """Decode a global id; anything that is not one of ours is 'not found'."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
        type_name, _, value = raw.partition(":")
        if not type_name or not value:
            raise ValueError
        return type_name, uuid.UUID(value)
    except (ValueError, UnicodeError, binascii.Error):
        raise NotFound(f"{global_id!r} is not a valid id", id=global_id) from None


def parse_global_id(global_id: str, expected_type: str) -> uuid.UUID:
    """Decode an id that must name `expected_type`; another type is 'not found' too."""
    type_name, value = from_global_id(global_id)
    if type_name != expected_type:
        raise NotFound(f"{global_id!r} is not a {expected_type} id", id=global_id)
    return value
