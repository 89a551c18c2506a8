"""The `kassa` command: run, serve, worker, migrate, org, token, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import uuid

from app import load_scope_declarations
from app.auth.scopes import all_scopes
from app.config import get_settings


def _services(*, need_redis: bool = True, require_migrated: bool = True, unreachable_ok: bool = False):
    """Which PostgreSQL (and Redis) this command uses, said in one line on stderr.

    In this order: DATABASE_URL/REDIS_URL when set; else the services of a `kassa run` running on
    the same data folder (its `services.json`); else the local default ports. Unless
    `require_migrated=False`, a database that `kassa migrate` has not brought up to date stops the
    command with a one-line error (exit status 2); so does one that does not answer, unless
    `unreachable_ok` (serve and worker start anyway and recover once it is back)."""
    from app.platform.services import describe_database, describe_redis, resolve_services

    resolved = resolve_services(get_settings(), allow_embedded=False, need_redis=need_redis)
    os.environ["DATABASE_URL"] = resolved.database_url
    if resolved.redis_url:
        os.environ["REDIS_URL"] = resolved.redis_url
    get_settings.cache_clear()
    database = describe_database(resolved.database_url)
    line = f"kassa: using {database} ({resolved.postgres_source})"
    if need_redis and resolved.redis_url:
        line += f", Redis {describe_redis(resolved.redis_url)} ({resolved.redis_source})"
    print(line, file=sys.stderr, flush=True)
    if require_migrated:
        _require_migrated(resolved.database_url, database, unreachable_ok=unreachable_ok)
    return resolved


def _require_migrated(database_url: str, database: str, *, unreachable_ok: bool = False) -> None:
    """`unreachable_ok`: a database that does not answer is only warned about (the API and the
    worker start anyway and recover once it is back, as /health reports)."""
    from app.platform.migrations import unapplied_migrations

    try:
        behind = unapplied_migrations(database_url)
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        cause = getattr(exc, "orig", None) or exc  # the driver's message, not SQLAlchemy's wrapper
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        if unreachable_ok:
            print(f"kassa: warning: cannot check the migrations of {database}: {reason}", file=sys.stderr, flush=True)
            return
        raise CommandError(f"cannot use {database}: {reason}") from None
    if behind:
        raise CommandError(f"{database} {behind}: run `kassa migrate` first (with the same DATABASE_URL, if you set one)")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per webhook request is noise


def _organization_id(value: str) -> uuid.UUID:
    """An organization id as printed by `org create` or as the API's global id."""
    from app.kit.errors import NotFound
    from app.kit.ids import parse_global_id

    try:
        return uuid.UUID(value)
    except ValueError:
        try:
            return parse_global_id(value, "Organization")
        except NotFound:
            raise CommandError(f"{value!r} is not an organization id") from None


class CommandError(Exception):
    """A mistake in the command's arguments: printed as one line, exit status 2."""


def cmd_run(_args) -> int:
    from app.platform.supervisor import supervise

    return supervise(get_settings())


def cmd_serve(args) -> int:
    import uvicorn

    _services(unreachable_ok=True)
    settings = get_settings()
    uvicorn.run(
        "app.server:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level="info",
        access_log=False,
    )
    return 0


def cmd_worker(_args) -> int:
    _logging()
    _services(unreachable_ok=True)  # before importing the settings, which read REDIS_URL
    from workers.settings import create_worker

    create_worker().run()  # until SIGINT/SIGTERM; outlives Redis restarts
    return 0


def cmd_migrate(_args) -> int:
    from app.platform.migrations import run_migrations

    resolved = _services(need_redis=False, require_migrated=False)
    run_migrations(resolved.database_url)
    print("database is at the latest migration")
    return 0


async def _with_session(fn):
    """The operator's commands act as the database owner (DATABASE_URL's user): they name
    organizations and tokens across tenants, which row-level security keeps from the app."""
    from app.kit.db import create_engine, create_session_factory

    engine = create_engine(get_settings().database_url, pool_size=1)
    try:
        async with create_session_factory(engine)() as session:
            result = await fn(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


def cmd_org_create(args) -> int:
    from app.organizations.service import create_organization

    _services(need_redis=False)
    organization, token, plain = asyncio.run(_with_session(lambda s: create_organization(s, args.name)))
    print(f"organization: {organization.name} ({organization.id})")
    print(f"token id:     {token.id}")
    print(f"scopes:       {' '.join(token.scopes)}")
    print(f"access token: {plain}")
    print("Keep the access token now: it is stored hashed and cannot be shown again.")
    return 0


def cmd_org_list(_args) -> int:
    from app.organizations import repository

    _services(need_redis=False)
    organizations = asyncio.run(_with_session(repository.list_all))
    if not organizations:
        print("no organizations")
    for organization in organizations:
        print(f"{organization.id}  {organization.created_at:%Y-%m-%d %H:%M}  {organization.name}")
    return 0


def cmd_token_create(args) -> int:
    from app.auth.service import issue_token, operator_scope
    from app.organizations import repository

    organization_id = _organization_id(args.organization_id)
    _services(need_redis=False)

    async def issue(session):
        if await repository.get(session, operator_scope(organization_id)) is None:
            raise CommandError(f"no organization {organization_id}")
        return await issue_token(session, organization_id, scopes=args.scope, comment=args.comment)

    token, plain = asyncio.run(_with_session(issue))
    print(f"token id:     {token.id}")
    print(f"scopes:       {' '.join(token.scopes)}")
    print(f"access token: {plain}")
    return 0


def cmd_token_list(args) -> int:
    from app.auth.service import list_tokens, operator_scope
    from app.organizations import repository

    organization_id = _organization_id(args.organization_id)
    _services(need_redis=False)

    async def tokens_of(session):
        if await repository.get(session, operator_scope(organization_id)) is None:
            raise CommandError(f"no organization {organization_id}")
        return await list_tokens(session, operator_scope(organization_id))

    tokens = asyncio.run(_with_session(tokens_of))
    if not tokens:
        print("no tokens")
    for token in tokens:
        state = "revoked" if token.revoked_at else "active"
        print(f"{token.id}  {state:7}  {token.created_at:%Y-%m-%d %H:%M}  {' '.join(token.scopes)}  {token.comment}")
    return 0


def cmd_token_revoke(args) -> int:
    from app.auth.service import revoke_token

    try:
        token_id = uuid.UUID(args.token_id)
    except ValueError:
        raise CommandError(f"{args.token_id!r} is not a token id (see `kassa token list ORG_ID`)") from None
    _services(need_redis=False)
    revoked = asyncio.run(_with_session(lambda s: revoke_token(s, token_id)))
    print("revoked" if revoked else "no active token with that id")
    return 0 if revoked else 1


def cmd_export_schema(_args) -> int:
    from schema import schema

    sys.stdout.write(schema.as_str() + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kassa", description="Kassa billing platform")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="migrate, then run the API and a worker (embedded PostgreSQL/Redis if none)").set_defaults(fn=cmd_run)
    serve = sub.add_parser("serve", help="run the API server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(fn=cmd_serve)
    sub.add_parser("worker", help="run a background worker").set_defaults(fn=cmd_worker)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)
    sub.add_parser("export-schema", help="print the GraphQL schema (SDL)").set_defaults(fn=cmd_export_schema)

    org = sub.add_parser("org", help="organizations").add_subparsers(dest="org_command", required=True)
    create = org.add_parser("create", help="create an organization and print its first access token")
    create.add_argument("name")
    create.set_defaults(fn=cmd_org_create)
    org.add_parser("list", help="list the organizations (ids for the token commands)").set_defaults(fn=cmd_org_list)

    token = sub.add_parser("token", help="access tokens").add_subparsers(dest="token_command", required=True)
    tcreate = token.add_parser("create", help="issue another access token for an organization")
    tcreate.add_argument("organization_id")
    tcreate.add_argument(
        "--scope",
        action="append",
        help="repeat for several; default: every scope. "
        + "; ".join(f"{scope.value}: {scope.description.rstrip('.')}" for scope in all_scopes()),
    )
    tcreate.add_argument("--comment", default="")
    tcreate.set_defaults(fn=cmd_token_create)
    tlist = token.add_parser("list", help="list an organization's access tokens (ids, scopes, state)")
    tlist.add_argument("organization_id")
    tlist.set_defaults(fn=cmd_token_list)
    trevoke = token.add_parser("revoke", help="revoke an access token by its id")
    trevoke.add_argument("token_id")
    trevoke.set_defaults(fn=cmd_token_revoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    from app.kit.errors import KassaError

    load_scope_declarations()
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except (CommandError, KassaError) as exc:
        print(f"kassa: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
