"""The `job` decorator: names a job, retries it with backoff, and records it when it gives up.

arq retries only on `Retry`; here any exception is retried with exponential backoff and
jitter up to `worker_max_tries` tries. The arq function is given one try more than that, so a
job whose worker died during its last try still reaches this wrapper once, which records it.
Exhausted jobs land in the `job_failures` table: nothing fails silently.
"""

from __future__ import annotations

import inspect
import logging
import traceback
import uuid
from typing import Any, Awaitable, Callable

from arq import Retry
from sqlalchemy.exc import IntegrityError
from arq.cron import CronJob, cron
from arq.worker import Function, func

from app.auth.service import job_scope
from app.config import get_settings
from app.kit.backoff import backoff_delay
from app.kit.tenancy import TenantScope, scoped_factory
from app.models import JobFailure
from app.organizations import repository as organizations

logger = logging.getLogger("kassa.workers")

JobFunction = Callable[..., Awaitable[Any]]
REGISTRY: dict[str, Function] = {}
CRON_JOBS: list[CronJob] = []  # the jobs that also run every minute (workers/settings.py)
SLOTS: dict[str, int] = {}  # job name -> how many may run at once in one worker process


def backoff_seconds(job_try: int, base: float = 1.0) -> float:
    """base, 2 x base, 4 x base, ... capped at 5 minutes, with +/-25 % jitter."""
    return backoff_delay(job_try, first=base, cap=300)


async def record_failure(ctx: dict[str, Any], name: str, args: tuple, error: str, scope: TenantScope | None = None) -> None:
    """A row in job_failures, under the job's organization when it has one (and that
    organization exists), else as a system failure."""
    for acting_for in (scope, None) if scope is not None else (None,):
        factory = ctx["session_factory"] if acting_for is None else scoped_factory(ctx["session_factory"], acting_for)
        async with factory() as session:
            session.add(
                JobFailure(
                    job_name=name,
                    job_id=str(ctx.get("job_id", "")),
                    organization_id=acting_for.organization_id if acting_for is not None else None,
                    args=[str(a) for a in args],
                    tries=ctx.get("job_try", 0),
                    error=error[:10000],
                )
            )
            try:
                await session.commit()
                break
            except IntegrityError:  # no such organization (an id from elsewhere): a system failure
                await session.rollback()
    logger.error("job %s%r gave up after %s tries: %s", name, args, ctx.get("job_try"), error.splitlines()[-1] if error else "")


def _job_scope(name: str, args: tuple) -> TenantScope:
    """A tenant job's first argument: the organization the transaction that asked for it acted for."""
    try:
        return job_scope(uuid.UUID(str(args[0])))
    except (IndexError, ValueError):
        raise TypeError(f"job {name} acts for an organization: its first argument must be the organization's id, got {args!r}") from None


def job(
    name: str, *, tenant: bool = False, every_minute_at: int | None = None, keep_result: int = 0, timeout: float | None = None,
    slots: int | None = None,
) -> Callable[[JobFunction], JobFunction]:
    """Register `fn(ctx, *ids)` as the arq job `name`. A `tenant` job acts for one organization:
    it is called `fn(ctx, scope, *ids)`, its scope made from its first argument (app.kit.jobs
    puts it there), and opens its sessions with `scoped_factory(ctx["session_factory"], scope)`.
    `every_minute_at` (a second, 0-59): the job also runs every minute then, once across the
    workers, and at a worker's start (the sweeps). `slots`: at most that many runs of it at once
    in one worker process (workers.settings: the others stay queued, in no job slot), for a job
    that comes in backlogs (one per customer or wallet) and would otherwise take every slot; its
    job ids must start with its name (`name:...`, as the coalesced ones do)."""

    def decorate(fn: JobFunction) -> JobFunction:
        max_tries = get_settings().worker_max_tries
        arity = len(inspect.signature(fn).parameters) - 1  # ctx aside; a tenant job's scope is its first argument

        async def run(ctx: dict[str, Any], *args: Any) -> Any:
            job_try = ctx.get("job_try", 1)
            try:
                if len(args) != arity:
                    raise TypeError(f"job {name} takes {arity} arguments, got {args!r}" + (" (the organization's id first)" if tenant else ""))
                scope = _job_scope(name, args) if tenant else None
            except TypeError:  # arguments no try can fix (e.g. a job queued by older code): recorded at once
                await record_failure(ctx, name, args, traceback.format_exc())
                return None
            call_args = (scope, *args[1:]) if tenant else args
            if job_try > max_tries:
                await record_failure(ctx, name, args, "the worker stopped during the last try", scope)
                return None
            try:
                return await fn(ctx, *call_args)
            except Exception as exc:  # noqa: BLE001 - every failure is retried or recorded
                if job_try < max_tries:
                    base = ctx["settings"].worker_retry_base_seconds if "settings" in ctx else 1.0
                    raise Retry(defer=backoff_seconds(job_try, base)) from exc
                await record_failure(ctx, name, args, traceback.format_exc(), scope)
                return None

        run.__name__ = name.replace(".", "_")
        REGISTRY[name] = func(run, name=name, max_tries=max_tries + 1, keep_result=keep_result, timeout=timeout)
        if slots:
            SLOTS[name] = slots
        if every_minute_at is not None:
            CRON_JOBS.append(cron(run, name=f"{name}.cron", second=every_minute_at, unique=True, run_at_startup=True))
        return fn

    return decorate


async def organization_scopes(ctx: dict[str, Any]) -> list[TenantScope]:
    """The scope of every organization, for a sweep that works one organization at a time (each
    in sessions acting for it: row-level security shows a session one organization only)."""
    async with ctx["session_factory"]() as session:
        return [job_scope(organization_id) for organization_id in await organizations.all_ids(session)]
