"""Typed domain errors. Each has a stable `code`; the GraphQL layer maps them to error types."""

from __future__ import annotations

from dataclasses import dataclass


class KassaError(Exception):
    """Base of every error a caller can act on. Unexpected exceptions are not KassaErrors."""

    code = "ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldIssue:
    """One invalid input field: where (path from the input root), what, and a stable code."""

    path: tuple[str, ...]
    message: str
    code: str = "invalid"


class ValidationFailed(KassaError):
    code = "VALIDATION_ERROR"

    def __init__(self, issues: list[FieldIssue], message: str | None = None) -> None:
        self.issues = issues
        super().__init__(message or "; ".join(f"{'.'.join(i.path)}: {i.message}" for i in issues))


class NotFound(KassaError):
    """Unknown id, an id of another organization, a deleted object, or an id of the wrong type."""

    code = "NOT_FOUND"

    def __init__(self, message: str, *, id: str | None = None) -> None:
        super().__init__(message)
        self.id = id


class Conflict(KassaError):
    """A uniqueness rule would be broken; `field` names the input field that collides."""

    code = "CONFLICT"

    def __init__(self, message: str, *, field: str, value: str) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class CurrencyMismatch(KassaError):
    """Two amounts of different currencies were added, subtracted or compared (app/kit/money.py)."""

    code = "CURRENCY_MISMATCH"

    def __init__(self, currency: str, other: str) -> None:
        super().__init__(f"Amounts in {currency} and {other} cannot be combined: they must be in one currency")
        self.currency = currency
        self.other = other
