"""Sending webhooks, per the Standard Webhooks specification.

Each request carries `webhook-id` (the event id, the same on every retry and redelivery, so a
receiver can de-duplicate), `webhook-timestamp` and `webhook-signature` (`v1,` + base64 of
HMAC-SHA256 over `id.timestamp.body` with the endpoint's secret).

One run per endpoint at a time (an advisory lock), oldest event first: a delivery that fails
waits for its retry and holds back the endpoint's later events, so they arrive in order. After
the last retry it is marked failed and the next event goes; an endpoint whose events fail that
way `webhook_failure_threshold` times in a row is disabled, with the reason on the endpoint.

It lives with the jobs, not in `app/webhooks/`: a run commits as it goes (each attempt is recorded
in its own transaction), and code that owns its commits belongs to the workers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpcore
import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.service import job_scope
from app.config import Settings
from app.kit import clock
from app.kit.errors import ValidationFailed
from app.kit.jobs import JobRequest, send as send_jobs
from app.kit.tenancy import TenantScope, bound_scope, scoped_factory
from app.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookEvent
from app.organizations import repository as organizations
from app.webhooks import repository
from app.webhooks.policies import resolve_checked
from app.webhooks.service import DELIVER_JOB, SECRET_PREFIX

logger = logging.getLogger("kassa.webhooks")

EXCERPT_LENGTH = 1024
MAX_DELIVERIES_PER_RUN = 500


class CheckedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens the TCP connections of webhook requests: resolves the host once, checks every
    address (`policies.resolve_checked`) and connects to a checked address, never resolving
    again. TLS is untouched: httpcore still sends the URL's host name as SNI and verifies the
    certificate against it, and the Host header is the URL's; connections are pooled per host
    name, never shared between two hosts that resolve to the same address."""

    def __init__(self, *, development: bool, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.development = development
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options=None):
        try:
            async with asyncio.timeout(timeout):  # the connect timeout covers the name lookup too
                addresses = await resolve_checked(host, port, development=self.development)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        error: Exception | None = None
        for address in addresses:  # an IP address: the inner backend does not resolve it again
            try:
                return await self.inner.connect_tcp(address, port, timeout=timeout, local_address=local_address, socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise httpcore.ConnectError("webhooks are not sent to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def webhook_client(settings: Settings, *, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """The HTTP client that sends webhooks: no redirects, no proxy from the environment, and
    every connection opened through CheckedNetworkBackend. `verify`: the certificate check
    (the system's trusted authorities by default; an SSL context to trust others)."""
    transport = httpx.AsyncHTTPTransport(verify=verify, trust_env=False)
    # httpx does not take a network backend; its pool does (httpx 0.28, httpcore 1.0).
    # tests/webhooks/test_url_rules.py (the pinning tests) fails if this stops routing connections through it.
    transport._pool._network_backend = CheckedNetworkBackend(development=settings.is_development)
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False, timeout=settings.webhook_timeout_seconds)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass
class AttemptResult:
    succeeded: bool
    status_code: int | None
    duration_ms: int
    response_excerpt: str | None
    error: str | None


async def post_event(
    client: httpx.AsyncClient, endpoint: WebhookEndpoint, event: WebhookEvent, settings: Settings
) -> AttemptResult:
    body = json.dumps(event.payload, separators=(",", ":")).encode()
    message_id = str(event.id)
    timestamp = int(time.time())  # real time: the receiver checks it against its own clock (replays)
    headers = {
        "content-type": "application/json",
        "user-agent": "Kassa-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(endpoint.secret, message_id, timestamp, body),
    }
    started = time.perf_counter()
    try:
        response = await client.post(endpoint.url, content=body, headers=headers, timeout=settings.webhook_timeout_seconds)
    except ValidationFailed as exc:
        return AttemptResult(False, None, _elapsed(started), None, exc.issues[0].message[:512])
    except httpx.TimeoutException:
        return AttemptResult(False, None, _elapsed(started), None, f"timed out after {settings.webhook_timeout_seconds:g} s")
    except httpx.HTTPError as exc:
        return AttemptResult(False, None, _elapsed(started), None, f"{type(exc).__name__}: {exc}"[:512])
    excerpt = response.text[:EXCERPT_LENGTH] if response.content else None
    return AttemptResult(200 <= response.status_code < 300, response.status_code, _elapsed(started), excerpt, None)


def _elapsed(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def retry_delay(settings: Settings, attempt_count: int) -> float | None:
    """Seconds before the next try after `attempt_count` failed tries; None when none is left.
    Each delay of the schedule gets +/-20 % jitter."""
    schedule = settings.webhook_retry_schedule
    if attempt_count > len(schedule):
        return None
    return schedule[attempt_count - 1] * random.uniform(0.8, 1.2)


async def _record(
    session: AsyncSession,
    delivery: WebhookDelivery,
    endpoint_id: uuid.UUID,
    result: AttemptResult,
    settings: Settings,
    attempted_at: datetime,
) -> datetime | None:
    """Store the attempt and move the delivery on. Returns when to try again, if at all."""
    session.add(
        WebhookDeliveryAttempt(
            organization_id=delivery.organization_id,
            delivery_id=delivery.id,
            attempted_at=attempted_at,
            succeeded=result.succeeded,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            response_excerpt=result.response_excerpt,
            error=result.error,
        )
    )
    attempts = delivery.attempt_count + 1
    endpoint = await repository.get_endpoint_for_delivery(session, bound_scope(session), endpoint_id)
    now = clock.now()
    retry_at = None
    if result.succeeded:
        values = {"status": "succeeded", "attempt_count": attempts, "next_attempt_at": None, "finished_at": now}
        endpoint.consecutive_failures = 0
    else:
        delay = retry_delay(settings, attempts)
        if delay is None:
            values = {"status": "failed", "attempt_count": attempts, "next_attempt_at": None, "finished_at": now}
            endpoint.consecutive_failures += 1
            if endpoint.enabled and endpoint.consecutive_failures >= settings.webhook_failure_threshold:
                endpoint.enabled = False
                endpoint.disabled_at = now
                endpoint.disabled_reason = (
                    f"Disabled after {endpoint.consecutive_failures} events in a row failed every retry. "
                    "Fix the receiver, then enable the endpoint again; waiting events will be sent."
                )
                logger.warning("webhook endpoint %s disabled: %s", endpoint.id, endpoint.disabled_reason)
        else:
            retry_at = now + timedelta(seconds=delay)
            values = {"attempt_count": attempts, "next_attempt_at": retry_at}
    if not await repository.finish_attempt(session, delivery, values=values):
        await session.rollback()  # someone else moved this delivery on; keep their outcome
        return None
    await session.commit()
    return retry_at


@dataclass
class RunSummary:
    sent: int = 0
    succeeded: int = 0
    locked: bool = False
    retry_at: datetime | None = None
    more: bool = False


async def deliver_endpoint(
    session_factory: async_sessionmaker[AsyncSession],
    scope: TenantScope,
    endpoint_id: uuid.UUID,
    *,
    client: httpx.AsyncClient,
    settings: Settings,
    queue,
) -> RunSummary:
    """Send the endpoint's due deliveries in order. Safe to run twice or concurrently.

    A run that finds the endpoint locked leaves at once: the run holding the lock looks again
    for due deliveries after letting go, so whatever was committed meanwhile is sent."""
    session_factory = scoped_factory(session_factory, scope)
    organization = str(scope.organization_id)
    summary = RunSummary()
    while True:
        async with session_factory() as lock_session:
            if not await repository.try_lock_endpoint(lock_session, endpoint_id):
                summary.locked = True
                break
            try:
                await _send_due(session_factory, endpoint_id, summary, client=client, settings=settings)
            finally:
                await lock_session.rollback()
        if summary.more or summary.retry_at is not None:
            break
        async with session_factory() as session:
            if not await repository.has_due(session, scope, endpoint_id, clock.now()):
                break
    follow_up = []
    if summary.more:
        follow_up.append(JobRequest(DELIVER_JOB, (organization, str(endpoint_id)), job_id=f"{DELIVER_JOB}:{endpoint_id}:more:{uuid.uuid4().hex}"))
    if summary.retry_at is not None:  # a business time; arq's queue runs on real time
        stamp = int(summary.retry_at.timestamp() * 1000)
        run_at = clock.real_time(summary.retry_at)
        follow_up.append(JobRequest(DELIVER_JOB, (organization, str(endpoint_id)), defer_until=run_at, job_id=f"{DELIVER_JOB}:{endpoint_id}:{stamp}"))
    await send_jobs(queue, follow_up)
    return summary


async def _send_due(
    session_factory: async_sessionmaker[AsyncSession],
    endpoint_id: uuid.UUID,
    summary: RunSummary,
    *,
    client: httpx.AsyncClient,
    settings: Settings,
) -> None:
    """While holding the endpoint's lock: send due deliveries, oldest first, until one fails
    (its retry holds back the rest), none is due, or this run has sent its share."""
    sent_here = 0
    while True:
        if sent_here >= MAX_DELIVERIES_PER_RUN:
            summary.more = True
            return
        async with session_factory() as session:
            head = await repository.head_delivery(session, bound_scope(session), endpoint_id)
        if head is None:
            return
        delivery, event, endpoint = head
        if not endpoint.enabled or endpoint.deleted_at is not None:
            return
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > clock.now():
            summary.retry_at = delivery.next_attempt_at
            return
        attempted_at = clock.now()
        result = await post_event(client, endpoint, event, settings)
        sent_here += 1
        summary.sent += 1
        summary.succeeded += int(result.succeeded)
        async with session_factory() as session:
            retry_at = await _record(session, delivery, endpoint_id, result, settings, attempted_at)
        if retry_at is not None:
            summary.retry_at = retry_at
            return


async def sweep(session_factory: async_sessionmaker[AsyncSession], queue) -> int:
    """Queue a delivery run for every endpoint with a due delivery: the safety net for a job
    lost between commit and Redis, or a worker that died mid-run. One organization at a time,
    each in a session acting for it."""
    async with session_factory() as session:
        organization_ids = await organizations.all_ids(session)
    minute = int(time.time() // 60)
    requests = []
    for organization_id in organization_ids:
        scope = job_scope(organization_id)
        async with scoped_factory(session_factory, scope)() as session:
            endpoint_ids = await repository.due_endpoint_ids(session, scope, clock.now())
        requests += [
            JobRequest(DELIVER_JOB, (str(organization_id), str(i)), job_id=f"{DELIVER_JOB}:{i}:sweep:{minute}") for i in endpoint_ids
        ]
    await send_jobs(queue, requests)
    return len(requests)
