"""Idempotency keys with Stripe's semantics: the one mechanism every money-moving operation uses.

A caller sends a key with an operation (GraphQL: the input's `idempotencyKey`; REST: the
`Idempotency-Key` header). Keys are scoped per organization and operation. Inside the
operation's own transaction, before its work, `claim` takes the key:

- a new key is inserted (`INSERT ... ON CONFLICT DO NOTHING`) and the operation runs; its
  answer is stored with `record` in the same transaction, before the commit, so a committed key
  always holds its answer (a crash between the commit and the answer still replays);
- a key another transaction is using (its row not committed yet) makes the insert wait for
  that transaction; past `wait_seconds` (PostgreSQL's `lock_timeout`) the answer is
  `IdempotencyKeyInUse`. So two requests with one key never both run;
- a committed key with the same input (`request_hash`: canonical JSON of the input without the
  key) replays its stored answer; with another input it is `IdempotencyKeyReused`;
- an expired key (past `expires_at`) counts as absent: the new request takes its row over.
  `delete_expired` (the workers' `idempotency.sweep`) removes them.

The GraphQL side (`schema/kit/errors.py: run_mutation`) and the REST side
(`app/rest/common.py: idempotent`) call this module and store what they need to answer again.
"""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit import clock
from app.kit.errors import FieldIssue, KassaError, ValidationFailed
from app.kit.repository import owned_by
from app.kit.tenancy import TenantScope
from app.models.idempotency_key import IdempotencyKey

KEY_MAX_LENGTH = 255
_LOCK_NOT_AVAILABLE = "55P03"


class IdempotencyKeyReused(KassaError):
    """The key was used before, for this operation, with a different input."""

    code = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyKeyInUse(KassaError):
    """Another request with the same key is still running."""

    code = "IDEMPOTENCY_KEY_IN_USE"


@dataclass(frozen=True)
class KeyedRequest:
    """One operation's use of a key: which operation, the key, the hash of its input."""

    operation: str
    key: str
    request_hash: str


def check_key(key: Any, path: tuple[str, ...]) -> str:
    """`key` if it is 1 to 255 printable characters, else a validation error at `path`."""
    if not isinstance(key, str) or not 1 <= len(key) <= KEY_MAX_LENGTH or not key.isprintable():
        raise ValidationFailed(
            [FieldIssue(path, f"must be 1 to {KEY_MAX_LENGTH} printable characters", "invalid_idempotency_key")],
        )
    return key


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"cannot hash a {type(value).__name__} in an idempotent request")


def request_hash(payload: Any) -> str:
    """SHA-256 of `payload` as canonical JSON (keys sorted, no spaces)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)
    return hashlib.sha256(canonical.encode()).hexdigest()


def keyed_request(operation: str, key: Any, payload: Any, path: tuple[str, ...]) -> KeyedRequest:
    return KeyedRequest(operation, check_key(key, path), request_hash(payload))


def _is_lock_timeout(exc: DBAPIError) -> bool:
    orig = getattr(exc, "orig", None)
    cause = getattr(orig, "__cause__", None)
    return _LOCK_NOT_AVAILABLE in (getattr(orig, "sqlstate", None), getattr(cause, "sqlstate", None), getattr(orig, "pgcode", None))


async def claim(
    session: AsyncSession, scope: TenantScope, request: KeyedRequest, *, ttl: timedelta, wait_seconds: float
) -> dict[str, Any] | None:
    """Take `request`'s key in the session's transaction: None when the operation is to run (then
    `record` its answer before committing), or the stored answer to replay. Raises
    `IdempotencyKeyReused` or `IdempotencyKeyInUse`, after which the caller rolls the transaction
    back (a replay wrote nothing either: it may commit or roll back)."""
    bound = f"{max(1, round(wait_seconds * 1000))}ms"
    before = (
        await session.execute(
            text("SELECT before, set_config('lock_timeout', :bound, true) FROM (SELECT current_setting('lock_timeout') AS before OFFSET 0) b"),
            {"bound": bound},
        )
    ).scalar_one()
    try:
        stored = await _claim(session, scope, request, ttl)
    except DBAPIError as exc:
        if _is_lock_timeout(exc):
            raise IdempotencyKeyInUse("Another request with this idempotency key is still running; retry later") from None
        raise
    await session.execute(text("SELECT set_config('lock_timeout', :before, true)"), {"before": before})
    return stored


async def claim_as_configured(session: AsyncSession, scope: TenantScope, request: KeyedRequest, settings: Any) -> dict[str, Any] | None:
    """`claim` with the key lifetime and the wait bound of the settings
    (`KASSA_IDEMPOTENCY_KEY_TTL_HOURS`, `KASSA_IDEMPOTENCY_KEY_WAIT_SECONDS`): what both doors use."""
    return await claim(
        session,
        scope,
        request,
        ttl=timedelta(hours=settings.idempotency_key_ttl_hours),
        wait_seconds=settings.idempotency_key_wait_seconds,
    )


async def _claim(session: AsyncSession, scope: TenantScope, request: KeyedRequest, ttl: timedelta) -> dict[str, Any] | None:
    where = (
        owned_by(IdempotencyKey, scope),
        IdempotencyKey.operation == request.operation,
        IdempotencyKey.key == request.key,
    )
    for _attempt in range(3):
        now = clock.now()
        inserted = await session.scalar(
            insert(IdempotencyKey)
            .values(
                id=uuid.uuid4(),
                organization_id=scope.organization_id,
                operation=request.operation,
                key=request.key,
                request_hash=request.request_hash,
                response=None,
                expires_at=now + ttl,
                created_at=now,
                modified_at=now,
            )
            .on_conflict_do_nothing(index_elements=["organization_id", "operation", "key"])
            .returning(IdempotencyKey.id)
        )
        if inserted is not None:
            return None
        row = (
            await session.execute(
                select(IdempotencyKey.id, IdempotencyKey.request_hash, IdempotencyKey.response, IdempotencyKey.expires_at)
                .where(*where)
                .with_for_update()
            )
        ).one_or_none()
        if row is None:
            continue  # deleted (expired) between the two statements: insert again
        if row.expires_at <= now:  # an expired key counts as absent: take its row over
            await session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.id == row.id, owned_by(IdempotencyKey, scope))
                .values(request_hash=request.request_hash, response=None, created_at=now, modified_at=now, expires_at=now + ttl)
            )
            return None
        if row.request_hash != request.request_hash:
            raise IdempotencyKeyReused("This idempotency key was already used for this operation with a different input")
        if row.response is None:  # cannot be committed so; answer as for a running request
            raise IdempotencyKeyInUse("Another request with this idempotency key is still running; retry later")
        return row.response
    raise IdempotencyKeyInUse("Another request with this idempotency key is still running; retry later")


async def record(session: AsyncSession, scope: TenantScope, request: KeyedRequest, response: dict[str, Any]) -> None:
    """Store the answer of the operation that claimed the key, in its transaction (before commit)."""
    await session.execute(
        update(IdempotencyKey)
        .where(owned_by(IdempotencyKey, scope), IdempotencyKey.operation == request.operation, IdempotencyKey.key == request.key)
        .values(response=response, modified_at=clock.now())
    )


async def delete_expired(session: AsyncSession, scope: TenantScope, *, limit: int = 10_000) -> int:
    """Delete up to `limit` of the organization's expired keys; how many were deleted."""
    expired = (
        select(IdempotencyKey.id)
        .where(owned_by(IdempotencyKey, scope), IdempotencyKey.expires_at <= clock.now())
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(expired)))
    return result.rowcount or 0
