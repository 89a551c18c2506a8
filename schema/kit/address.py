"""`Address`: a postal address, as customers, checkouts and orders show it (a building block of
no domain: it needs no scope of its own)."""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type(description="A postal address.")
class Address:
    line1: str | None = strawberry.field(description="Street and number.")
    line2: str | None = strawberry.field(description="Apartment, suite, floor.")
    postal_code: str | None = strawberry.field(description="Postal or ZIP code.")
    city: str | None = strawberry.field(description="City.")
    state: str | None = strawberry.field(description="State, province or region.")
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 country code, e.g. `US`.")

    @classmethod
    def of(cls, address: dict[str, Any] | None) -> "Address | None":
        """The stored address (app/kit/validation.py: check_address), or None."""
        if not address:
            return None
        return cls(
            line1=address.get("line1"),
            line2=address.get("line2"),
            postal_code=address.get("postal_code"),
            city=address.get("city"),
            state=address.get("state"),
            country=address["country"],
        )
