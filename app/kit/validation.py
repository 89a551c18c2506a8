"""Input rules shared by every domain: emails, bounded strings, metadata, addresses, timestamps.

Each check appends `FieldIssue`s to a list so one call reports every bad field at once.

Text rule (one for every string that enters): control characters are refused. Identifiers,
names and keys refuse all of them (C0, DEL, C1); free text (descriptions, metadata values,
filter values) allows tab, line feed and carriage return. Lone surrogates are refused too:
they cannot be stored (PostgreSQL refuses NUL and unencodable text).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from email_validator import EmailNotValidError, validate_email

from app.kit.errors import FieldIssue, ValidationFailed

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX_LENGTH = 40
METADATA_STRING_MAX_LENGTH = 500
# Control characters (C0, DEL, C1) and lone surrogates: never in names, identifiers or keys.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same without tab, line feed and carriage return: what free text refuses.
CONTROL_CHARACTERS_IN_FREE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
ADDRESS_FIELDS = {"line1": 256, "line2": 256, "postal_code": 32, "city": 128, "state": 128, "country": 2}


def check_email(issues: list[FieldIssue], path: tuple[str, ...], value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        issues.append(FieldIssue(path, f"is not a valid email address: {exc}", "invalid_email"))
        return value


def has_control_characters(value: str, *, free_text: bool = False) -> bool:
    """True if `value` holds a character the text rule refuses (see the module docstring).
    `isprintable` (C, fast) clears most text at once; the pattern decides the rest."""
    if value.isprintable():
        return False
    return (CONTROL_CHARACTERS_IN_FREE_TEXT if free_text else CONTROL_CHARACTERS).search(value) is not None


def control_character_issue(path: tuple[str, ...], *, free_text: bool = False) -> FieldIssue:
    allowed = " (tabs and line breaks are allowed)" if free_text else ""
    return FieldIssue(path, f"must not contain control characters such as NUL{allowed}", "invalid_characters")


def check_text(
    issues: list[FieldIssue],
    path: tuple[str, ...],
    value: str | None,
    *,
    max_length: int,
    required: bool = False,
    free_text: bool = False,
) -> str | None:
    """A trimmed string of at most `max_length` characters, or None when absent or blank.
    `free_text` allows tabs and line breaks (descriptions); names and ids refuse them."""
    if value is None:
        if required:
            issues.append(FieldIssue(path, "is required", "required"))
        return None
    if not isinstance(value, str):
        issues.append(FieldIssue(path, "must be a string", "invalid_type"))
        return None
    value = value.strip()
    if has_control_characters(value, free_text=free_text):
        issues.append(control_character_issue(path, free_text=free_text))
        return None
    if not value:
        if required:
            issues.append(FieldIssue(path, "must not be blank", "required"))
        return None
    if len(value) > max_length:
        issues.append(FieldIssue(path, f"must be at most {max_length} characters", "too_long"))
    return value


def check_metadata(issues: list[FieldIssue], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """Metadata: an object of at most 50 keys (1-40 characters); values are strings of at most
    500 characters, integers, numbers or booleans."""
    if not isinstance(value, dict):
        issues.append(FieldIssue(path, "must be an object", "invalid_type"))
        return {}
    if len(value) > METADATA_MAX_KEYS:
        issues.append(FieldIssue(path, f"must have at most {METADATA_MAX_KEYS} keys", "too_many_keys"))
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= METADATA_KEY_MAX_LENGTH:
            issues.append(FieldIssue((*path, str(key)[:60]), f"keys must be 1 to {METADATA_KEY_MAX_LENGTH} characters", "invalid_key"))
        elif has_control_characters(key):
            issues.append(FieldIssue((*path, key), "keys must not contain control characters", "invalid_key"))
        elif isinstance(item, bool) or isinstance(item, int) and abs(item) < 2**63:
            continue
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                issues.append(FieldIssue((*path, key), "must be a finite number", "invalid_value"))
        elif isinstance(item, str):
            if len(item) > METADATA_STRING_MAX_LENGTH:
                issues.append(FieldIssue((*path, key), f"strings must be at most {METADATA_STRING_MAX_LENGTH} characters", "too_long"))
            elif has_control_characters(item, free_text=True):
                issues.append(control_character_issue((*path, key), free_text=True))
        else:
            issues.append(FieldIssue((*path, key), "values must be strings, integers, numbers or booleans", "invalid_value"))
    return value


def check_address(issues: list[FieldIssue], path: tuple[str, ...], value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A postal address; `country` is required, an ISO 3166-1 alpha-2 code."""
    if value is None:
        return None
    cleaned: dict[str, Any] = {}
    for name, max_length in ADDRESS_FIELDS.items():
        text = check_text(issues, (*path, name), value.get(name), max_length=max_length, required=name == "country")
        if text is not None:
            cleaned[name] = text
    country = cleaned.get("country")
    if country is not None:
        if len(country) != 2 or not country.isalpha():
            issues.append(FieldIssue((*path, "country"), "must be an ISO 3166-1 alpha-2 code such as 'US'", "invalid_country"))
        cleaned["country"] = country.upper()
    return cleaned


def to_utc(value: datetime) -> datetime:
    """The one rule for timestamps: an aware datetime in UTC (naive means UTC). Raises
    ValueError when the instant falls outside years 1 to 9999 in UTC, e.g.
    `0001-01-01T00:00:00+23:59` or `9999-12-31T23:59:59-23:59`."""
    if value.tzinfo is timezone.utc:  # the common case ("...Z"), nothing to convert
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("is out of range: in UTC it must fall between years 1 and 9999") from None


def parse_timestamp(value: Any) -> datetime:
    """An ISO 8601 date-time string (or a datetime) as an aware UTC datetime; ValueError with a
    message fit for a caller otherwise."""
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return to_utc(parsed)
    raise ValueError("must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z")


LOOKUP_MAX_LENGTH = 1000


def check_lookup_text(fields: dict[str, str | None]) -> None:
    """Text a read looks up or searches by (filters, external ids): refused with every bad field
    named (`ValidationFailed`) when it holds control characters or is absurdly long, before it
    reaches the database (which refuses NUL)."""
    issues = [
        control_character_issue((name,)) if has_control_characters(value) else FieldIssue((name,), f"must be at most {LOOKUP_MAX_LENGTH} characters", "too_long")
        for name, value in fields.items()
        if isinstance(value, str) and (len(value) > LOOKUP_MAX_LENGTH or has_control_characters(value))
    ]
    if issues:
        raise ValidationFailed(issues)
