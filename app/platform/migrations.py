"""Programmatic `alembic upgrade head` with the project's alembic.ini."""

from __future__ import annotations

import asyncio
import re
import threading

from app.config import PROJECT_ROOT


def _config(database_url: str):
    from alembic.config import Config

    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logging"] = False
    return cfg


_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def app_role_statements(role: str) -> list[str]:
    """SQL that creates the application's role if it is missing and grants it what the API and
    the workers need, run by the owner after every upgrade (so new tables are covered). The
    role cannot log in, owns nothing and cannot bypass row-level security; the DATABASE_URL
    user switches to it when it connects (app.kit.db.create_engine)."""
    if not _ROLE_NAME.match(role):
        raise ValueError(f"KASSA_DATABASE_APP_ROLE must be a plain lower-case identifier, got {role!r}")
    return [
        # Two runs creating it at once (parallel test runs on one server): one wins, quietly.
        f"""DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {role} NOLOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$""",
        f"""DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}' AND (rolsuper OR rolbypassrls)) THEN
                RAISE EXCEPTION 'role {role} can bypass row-level security: choose another KASSA_DATABASE_APP_ROLE';
            END IF;
            IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AND NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN
                EXECUTE format('GRANT {role} TO %I', current_user);
            END IF;
        END $$""",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {role}",  # kassa_authenticate, kassa_organization_ids once 0009 ran
    ]


def run_migrations(database_url: str) -> None:
    """Upgrade the database at `database_url` to the latest migration (alembic `head`).

    migrations/env.py drives its async engine with `asyncio.run`, which cannot run inside a running
    event loop: when this thread already runs one, the upgrade runs in a separate thread (and this
    call blocks until it is done). Exceptions propagate to the caller.
    """
    from alembic import command

    cfg = _config(database_url)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(cfg, "head")
        return

    failure: list[BaseException] = []

    def target() -> None:
        try:
            command.upgrade(cfg, "head")
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            failure.append(exc)

    thread = threading.Thread(target=target, name="kassa-migrations")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def unapplied_migrations(database_url: str) -> str | None:
    """Why the database at `database_url` is behind this code's migrations, or None if it is not.

    "no tables" for a database `kassa migrate` never ran on, "at an older migration" for one it
    ran on with older code. A database at a revision this code does not know (newer code migrated
    it) counts as up to date: refusing it would stop a rollback. Connection errors propagate."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from app.kit.db import create_engine
    from app.platform.services import run_sync

    script = ScriptDirectory.from_config(_config(database_url))
    heads = set(script.get_heads())

    async def applied() -> set[str] | None:
        engine = create_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as connection:
                if not await connection.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL")):
                    return None
                return set((await connection.scalars(text("SELECT version_num FROM alembic_version"))).all())
        finally:
            await engine.dispose()

    current = run_sync(applied)
    if not current:
        return "has no tables yet"
    if current == heads:
        return None
    known = {revision.revision for revision in script.walk_revisions()}
    if current <= known:
        return "is at an older migration"
    return None
