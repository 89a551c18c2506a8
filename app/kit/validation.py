"""Input rules shared by every domain: emails, bounded strings, metadata, addresses.

Each check appends `FieldIssue`s to a list so one call reports every bad field at once.
"""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email

from app.kit.errors import FieldIssue

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX_LENGTH = 40
METADATA_STRING_MAX_LENGTH = 500
ADDRESS_FIELDS = {"line1": 256, "line2": 256, "postal_code": 32, "city": 128, "state": 128, "country": 2}


def check_email(issues: list[FieldIssue], path: tuple[str, ...], value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        issues.append(FieldIssue(path, f"is not a valid email address: {exc}", "invalid_email"))
        return value


def check_text(
    issues: list[FieldIssue], path: tuple[str, ...], value: str | None, *, max_length: int, required: bool = False
) -> str | None:
    if value is None:
        if required:
            issues.append(FieldIssue(path, "is required", "required"))
        return None
    value = value.strip()
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
        elif isinstance(item, bool) or isinstance(item, int) and abs(item) < 2**63:
            continue
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                issues.append(FieldIssue((*path, key), "must be a finite number", "invalid_value"))
        elif isinstance(item, str):
            if len(item) > METADATA_STRING_MAX_LENGTH:
                issues.append(FieldIssue((*path, key), f"strings must be at most {METADATA_STRING_MAX_LENGTH} characters", "too_long"))
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
