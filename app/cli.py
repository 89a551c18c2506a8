"""The `kassa` command: run, serve, worker, migrate, org, token, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid

from app.config import get_settings


def _services():
    """DATABASE_URL/REDIS_URL, else the local default ports, else a running `kassa run`'s embedded ones."""
    from app.platform.services import resolve_services

    resolved = resolve_services(get_settings(), allow_embedded=False)
    os.environ["DATABASE_URL"] = resolved.database_url
    os.environ["REDIS_URL"] = resolved.redis_url
    get_settings.cache_clear()
    return resolved


def cmd_run(_args) -> int:
    from app.platform.supervisor import supervise

    return supervise(get_settings())


def cmd_serve(args) -> int:
    import uvicorn

    _services()
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
    from arq.worker import run_worker

    _services()  # before importing the settings, which read REDIS_URL
    from workers.settings import WorkerSettings

    run_worker(WorkerSettings)
    return 0


def cmd_migrate(_args) -> int:
    from app.platform.migrations import run_migrations

    resolved = _services()
    run_migrations(resolved.database_url)
    print("database is at the latest migration")
    return 0


async def _with_session(fn):
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

    _services()
    organization, token, plain = asyncio.run(_with_session(lambda s: create_organization(s, args.name)))
    print(f"organization: {organization.name} ({organization.id})")
    print(f"token id:     {token.id}")
    print(f"scopes:       {' '.join(token.scopes)}")
    print(f"access token: {plain}")
    print("Keep the access token now: it is stored hashed and cannot be shown again.")
    return 0


def cmd_token_create(args) -> int:
    from app.auth.service import issue_token

    _services()
    token, plain = asyncio.run(
        _with_session(lambda s: issue_token(s, uuid.UUID(args.organization_id), scopes=args.scope, comment=args.comment))
    )
    print(f"token id:     {token.id}")
    print(f"scopes:       {' '.join(token.scopes)}")
    print(f"access token: {plain}")
    return 0


def cmd_token_revoke(args) -> int:
    from app.auth.service import revoke_token

    _services()
    revoked = asyncio.run(_with_session(lambda s: revoke_token(s, uuid.UUID(args.token_id))))
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

    token = sub.add_parser("token", help="access tokens").add_subparsers(dest="token_command", required=True)
    tcreate = token.add_parser("create", help="issue another access token for an organization")
    tcreate.add_argument("organization_id")
    tcreate.add_argument("--scope", action="append", help="repeat for several; default: every scope")
    tcreate.add_argument("--comment", default="")
    tcreate.set_defaults(fn=cmd_token_create)
    trevoke = token.add_parser("revoke", help="revoke an access token by its id")
    trevoke.add_argument("token_id")
    trevoke.set_defaults(fn=cmd_token_revoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.fn(args) or 0


if __name__ == "__main__":
    sys.exit(main())
