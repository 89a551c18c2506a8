"""Webhook endpoints, the outbox (`emit`) and redelivery.

`emit` is the one call every domain uses to tell merchants about a change: it writes the event
and its deliveries in the caller's transaction and asks for a delivery job after commit.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.kit import clock
from app.kit.batches import grouped, in_order
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.jobs import enqueue_after_commit, enqueue_coalesced_after_commit
from app.kit.pagination import Page, check_page_size
from app.kit.validation import check_text, control_character_issue, has_control_characters
from app.kit.tenancy import TenantScope
from app.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookEvent, WebhookEventType
from app.webhooks import repository
from app.webhooks.policies import check_url_shape, resolve_public_addresses

SECRET_PREFIX = "whsec_"
DELIVER_JOB = "webhooks.deliver"
DELIVER_WINDOW = 0.05  # changes to one endpoint within 50 ms share a delivery run


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot serialize {type(value).__name__}")


async def emit(session: AsyncSession, scope: TenantScope, type: WebhookEventType, data: dict[str, Any]) -> uuid.UUID:
    """Record event `type` with `data` in the current transaction and queue its deliveries.

    The payload is `{type, timestamp, data}`; `data` is the object as the API shows it.
    """
    [event_id] = await emit_many(session, scope, [(type, data)])
    return event_id


async def emit_many(session: AsyncSession, scope: TenantScope, events: Sequence[tuple[WebhookEventType, dict[str, Any]]]) -> list[uuid.UUID]:
    """`emit` for many events at once (a batch of renewals), in one statement: they are sequenced
    in the order given, so each endpoint receives them in that order."""
    if not events:
        return []
    now = clock.now()
    timestamp = now.isoformat()
    rows = [
        (uuid.uuid4(), type.value, json.dumps({"type": type.value, "timestamp": timestamp, "data": data}, default=_json_default, separators=(",", ":")))
        for type, data in events
    ]
    endpoint_ids = await repository.insert_events_with_deliveries(session, scope=scope, events=rows, now=now)
    for endpoint_id in sorted(endpoint_ids):
        enqueue_coalesced_after_commit(session, DELIVER_JOB, endpoint_id, window=DELIVER_WINDOW)
    return [row[0] for row in rows]


@dataclass
class EndpointDraft:
    url: str
    event_types: list[str]
    description: str | None = None
    enabled: bool = True


def _check_event_types(issues: list[FieldIssue], event_types: list[str]) -> list[str]:
    known = {t.value for t in WebhookEventType}
    if not event_types:
        issues.append(FieldIssue(("eventTypes",), "subscribe to at least one event type", "required"))
    unknown = [t for t in event_types if t not in known]
    if unknown:
        issues.append(FieldIssue(("eventTypes",), f"unknown event types: {', '.join(unknown)}", "invalid_event_type"))
    return sorted(set(event_types))


async def _check_destination(url: str, *, development: bool) -> str:
    """After `check_url_shape` passed: the host must resolve to public addresses only."""
    url = url.strip()
    await resolve_public_addresses(url, development=development)
    return url


def _check_url(issues: list[FieldIssue], url: str, *, development: bool) -> None:
    """The kit's text rule first (no control characters: PostgreSQL cannot store NUL), then the
    URL rules of `policies`."""
    if has_control_characters(url.strip()):
        issues.append(control_character_issue(("url",)))
    else:
        check_url_shape(issues, url, development=development)


async def create_endpoint(
    session: AsyncSession, subject: Subject, draft: EndpointDraft, *, development: bool
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; returns it and its signing secret, which is shown only now."""
    issues: list[FieldIssue] = []
    event_types = _check_event_types(issues, draft.event_types)
    description = check_text(issues, ("description",), draft.description, max_length=256, free_text=True)
    _check_url(issues, draft.url, development=development)
    if issues:
        raise ValidationFailed(issues)
    url = await _check_destination(draft.url, development=development)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        organization_id=subject.organization_id,
        url=url,
        description=description,
        secret=secret,
        event_types=event_types,
        enabled=draft.enabled,
        consecutive_failures=0,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def _endpoint(session: AsyncSession, subject: Subject, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = await repository.get_endpoint(session, subject.scope, endpoint_id, for_update=True)
    if endpoint is None:
        raise NotFound("Webhook endpoint not found")
    return endpoint


async def update_endpoint(
    session: AsyncSession, subject: Subject, endpoint_id: uuid.UUID, changes: Mapping[str, Any], *, development: bool
) -> WebhookEndpoint:
    """Change the given fields. Enabling an endpoint clears its failure count and disabled reason,
    and resumes the deliveries that were waiting."""
    endpoint = await _endpoint(session, subject, endpoint_id)
    issues: list[FieldIssue] = []
    if "event_types" in changes:
        endpoint.event_types = _check_event_types(issues, list(changes["event_types"] or []))
    if "description" in changes:
        endpoint.description = check_text(issues, ("description",), changes["description"], max_length=256, free_text=True)
    if "url" in changes:
        if changes["url"] is None:
            issues.append(FieldIssue(("url",), "cannot be null", "required"))
        else:
            _check_url(issues, changes["url"], development=development)
    if issues:
        raise ValidationFailed(issues)
    if "url" in changes:
        endpoint.url = await _check_destination(changes["url"], development=development)
    if "enabled" in changes and changes["enabled"] is not None:
        if changes["enabled"] and not endpoint.enabled:
            endpoint.consecutive_failures = 0
            endpoint.disabled_at = None
            endpoint.disabled_reason = None
            enqueue_after_commit(session, DELIVER_JOB, endpoint.id)
        endpoint.enabled = bool(changes["enabled"])
    await session.flush()
    return endpoint


async def rotate_secret(session: AsyncSession, subject: Subject, endpoint_id: uuid.UUID) -> tuple[WebhookEndpoint, str]:
    endpoint = await _endpoint(session, subject, endpoint_id)
    endpoint.secret = new_secret()
    await session.flush()
    return endpoint, endpoint.secret


async def delete_endpoint(session: AsyncSession, subject: Subject, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """Soft delete: deliveries stop; past events and attempts stay readable."""
    endpoint = await _endpoint(session, subject, endpoint_id)
    endpoint.deleted_at = clock.now()
    endpoint.enabled = False
    await session.flush()
    return endpoint


async def list_endpoints(session: AsyncSession, subject: Subject, *, first: int, after: str | None, max_page_size: int) -> Page:
    check_page_size(first, max_page_size)
    return await repository.list_endpoints(session, subject.scope, first=first, after=after)


async def get_endpoint(session: AsyncSession, subject: Subject, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = await repository.get_endpoint(session, subject.scope, endpoint_id)
    if endpoint is None:
        raise NotFound("Webhook endpoint not found")
    return endpoint


async def list_events(
    session: AsyncSession, subject: Subject, *, type: str | None, first: int, after: str | None, max_page_size: int
) -> Page:
    check_page_size(first, max_page_size)
    return await repository.list_events(session, subject.scope, type=type, first=first, after=after)


async def get_event(session: AsyncSession, subject: Subject, event_id: uuid.UUID) -> WebhookEvent:
    event = await repository.get_event(session, subject.scope, event_id)
    if event is None:
        raise NotFound("Webhook event not found")
    return event


async def redeliver(session: AsyncSession, subject: Subject, event_id: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookDelivery:
    """Send an event to an endpoint again, with the same `webhook-id`, as a new delivery."""
    event = await get_event(session, subject, event_id)
    endpoint = await _endpoint(session, subject, endpoint_id)
    delivery = WebhookDelivery(
        organization_id=subject.organization_id,
        event_id=event.id,
        endpoint_id=endpoint.id,
        sequence=event.sequence,
        status="pending",
        attempt_count=0,
        next_attempt_at=clock.now(),
    )
    session.add(delivery)
    await session.flush()
    enqueue_after_commit(session, DELIVER_JOB, endpoint.id)
    return delivery


async def load_deliveries_of(session: AsyncSession, scope: TenantScope, event_ids: list[uuid.UUID]) -> list[list[WebhookDelivery]]:
    deliveries = await repository.deliveries_of_events(session, scope, event_ids)
    return grouped(deliveries, event_ids, key=lambda delivery: delivery.event_id)


async def load_attempts_of(
    session: AsyncSession, scope: TenantScope, delivery_ids: list[uuid.UUID]
) -> list[list[WebhookDeliveryAttempt]]:
    attempts = await repository.attempts_of_deliveries(session, scope, delivery_ids)
    return grouped(attempts, delivery_ids, key=lambda attempt: attempt.delivery_id)


async def load_endpoints(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[WebhookEndpoint | None]:
    return in_order(await repository.endpoints_by_ids(session, scope, ids), ids)
