"""Webhook `data`: each object as the GraphQL API shows it (same field names, ids and enums)."""

from __future__ import annotations

from typing import Any

from app.kit.ids import to_global_id
from app.models import Customer, Member


def _time(value) -> str:
    return value.isoformat()


def address_data(address: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored address (app/kit/validation.py: check_address) as the API's `Address`."""
    if not address:
        return None
    return {
        "line1": address.get("line1"),
        "line2": address.get("line2"),
        "postalCode": address.get("postal_code"),
        "city": address.get("city"),
        "state": address.get("state"),
        "country": address["country"],
    }


def customer_data(customer: Customer) -> dict[str, Any]:
    return {
        "id": to_global_id("Customer", customer.id),
        "type": customer.type.upper(),
        "externalId": customer.external_id,
        "email": customer.email,
        "name": customer.name,
        "billingName": customer.billing_name,
        "billingAddress": address_data(customer.billing_address),
        "taxId": customer.tax_id,
        "metadata": customer.user_metadata,
        "createdAt": _time(customer.created_at),
        "modifiedAt": _time(customer.modified_at),
    }


def member_data(member: Member) -> dict[str, Any]:
    return {
        "id": to_global_id("Member", member.id),
        "customerId": to_global_id("Customer", member.customer_id),
        "role": member.role.upper(),
        "email": member.email,
        "name": member.name,
        "externalId": member.external_id,
        "createdAt": _time(member.created_at),
        "modifiedAt": _time(member.modified_at),
    }
