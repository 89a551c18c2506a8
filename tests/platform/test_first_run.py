"""A first run hands over a token; CLI commands use the running `kassa run`'s database and refuse an
unmigrated one in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.config import PROJECT_ROOT, Settings
from app.platform import supervisor
from app.platform.migrations import run_migrations
from app.platform.services import resolve_services, run_sync, write_services_file

SCRATCH = "kassa_scratch_firstrun"  # empty: never migrated
FRESH = "kassa_scratch_firstrun_fresh"  # migrated, no organizations
LOCAL = "kassa_scratch_firstrun_local"  # what the local-defaults step would create


def _url(services, database: str) -> str:
    test_services, _ = services
    return make_url(test_services.database_url).set(drivername="postgresql", database=database).render_as_string(
        hide_password=False
    )


def _admin(services, statement: str) -> None:
    async def main() -> None:
        conn = await asyncpg.connect(_url(services, "postgres"))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    run_sync(main)


def _fetch(url: str, query: str, *args):
    async def main():
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    return run_sync(main)


def _database(services, name: str, *, migrated: bool) -> Iterator[str]:
    _admin(services, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(services, f'CREATE DATABASE "{name}"')
    url = _url(services, name)
    try:
        if migrated:
            run_migrations(url)
        yield url
    finally:
        _admin(services, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_database(services) -> Iterator[str]:
    yield from _database(services, FRESH, migrated=True)


@pytest.fixture
def empty_database(services) -> Iterator[str]:
    yield from _database(services, SCRATCH, migrated=False)


def _kassa(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(KASSA_DATA_DIR=str(tmp_path), KASSA_LOCAL_POSTGRES="127.0.0.1:1", KASSA_LOCAL_REDIS="127.0.0.1:1")
    env.update(extra)
    return env


def test_first_run_creates_an_organization_with_a_working_token_once(fresh_database) -> None:
    first = supervisor.first_run_organization(fresh_database, "First Co")

    assert first is not None and first.name == "First Co" and first.token.startswith("kassa_oat_")
    rows = _fetch(fresh_database, "SELECT id, name FROM organizations")
    assert [(row["id"], row["name"]) for row in rows] == [(first.id, "First Co")]

    async def subject():
        from app.auth.service import authenticate
        from app.kit.db import create_engine, create_session_factory

        engine = create_engine(fresh_database, pool_size=1)
        try:
            async with create_session_factory(engine)() as session:
                return await authenticate(session, first.token)
        finally:
            await engine.dispose()

    assert run_sync(subject).organization_id == first.id  # the printed token is a live one

    # The banner shows it, with the commands for more.
    resolved = resolve_services(Settings(database_url=fresh_database, redis_url="redis://127.0.0.1:1/0"), allow_embedded=False)
    banner = supervisor._banner(Settings(), resolved, first)
    assert first.token in banner
    assert f"token create {first.id}" in banner and "org create NAME" in banner

    # A second start finds the organization: nothing created, no token shown.
    assert supervisor.first_run_organization(fresh_database, "First Co") is None
    assert len(_fetch(fresh_database, "SELECT id FROM organizations")) == 1
    banner = supervisor._banner(Settings(), resolved, None)
    assert "kassa_oat_" not in banner and "org create NAME" in banner and "org list" in banner


def test_cli_uses_the_database_of_the_running_kassa_run(services, fresh_database, tmp_path: Path) -> None:
    test_services, _ = services
    parsed = make_url(test_services.database_url)
    # A local PostgreSQL answers too (the one the tests use): the running stack's database must win.
    local = f"{parsed.host}:{parsed.port or 5432}" if parsed.host else "127.0.0.1:1"
    write_services_file(Settings(data_dir=tmp_path), database_url=fresh_database, redis_url=None)  # this process: alive
    name = f"Via services.json {uuid.uuid4().hex[:8]}"
    try:
        created = _kassa("org", "create", name, env=_env(tmp_path, KASSA_LOCAL_POSTGRES=local, KASSA_LOCAL_DATABASE=LOCAL))
    finally:
        _admin(services, f'DROP DATABASE IF EXISTS "{LOCAL}" WITH (FORCE)')

    assert created.returncode == 0, created.stdout + created.stderr
    assert created.stdout.startswith(f"organization: {name} ("), created.stdout  # stdout stays parseable
    assert [line for line in created.stderr.splitlines() if line] == [
        f'kassa: using database "{FRESH}" on {parsed.host}:{parsed.port or 5432} '
        f"(from the running `kassa run` (pid {os.getpid()}, {tmp_path / 'services.json'}))"
    ]
    assert [row["name"] for row in _fetch(fresh_database, "SELECT name FROM organizations")] == [name]

    listed = _kassa("org", "list", env=_env(tmp_path))
    assert listed.returncode == 0, listed.stderr
    assert [line.split("  ")[-1] for line in listed.stdout.splitlines()] == [name]
    assert "from the running `kassa run`" in listed.stderr


def test_an_explicit_database_url_beats_the_running_kassa_run(tmp_path: Path) -> None:
    settings = replace(Settings(), data_dir=tmp_path, local_postgres="127.0.0.1:1", local_redis="127.0.0.1:1")
    write_services_file(settings, database_url="postgresql://p@/from-file?host=/s", redis_url="redis://file:6379/0")
    resolved = resolve_services(replace(settings, database_url="postgresql://u@db/explicit"), allow_embedded=False)
    assert (resolved.database_url, resolved.postgres_source) == ("postgresql://u@db/explicit", "DATABASE_URL")
    assert resolved.redis_url == "redis://file:6379/0" and resolved.published_by == os.getpid()


def test_an_unmigrated_database_is_one_line_that_says_to_migrate(empty_database, tmp_path: Path) -> None:
    for command in (["org", "create", "Too early"], ["token", "list", str(uuid.uuid4())]):
        result = _kassa(*command, env=_env(tmp_path, DATABASE_URL=empty_database))

        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stdout == ""
        lines = [line for line in result.stderr.splitlines() if line]
        assert "Traceback" not in result.stderr and len(lines) == 2, result.stderr
        assert lines[0].startswith(f'kassa: using database "{SCRATCH}"') and lines[0].endswith("(DATABASE_URL)")
        assert lines[1].startswith(f'kassa: database "{SCRATCH}"') and "run `kassa migrate`" in lines[1]


def test_a_database_of_the_previous_release_upgrades_with_its_data_and_migrations_go_both_ways(empty_database) -> None:
    """From 0008 (before row-level security) with a customer in it, up to head: the customer is
    kept and seen by its organization only; down to 0008 and up again both run (the app role's
    grants follow every upgrade and downgrade, whatever functions exist then)."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from app.platform.migrations import _config

    cfg = _config(empty_database)
    command.upgrade(cfg, "0008")
    org = uuid.UUID("11111111-1111-1111-1111-111111111111")
    _fetch(
        empty_database,
        "INSERT INTO organizations (id, name, created_at, modified_at, warning_threshold, critical_threshold, exceeded_threshold) "
        "VALUES ($1, 'Old', now(), now(), 80, 90, 100)",
        org,
    )
    _fetch(
        empty_database,
        "INSERT INTO customers (id, organization_id, type, email, metadata, created_at, modified_at) "
        "VALUES (gen_random_uuid(), $1, 'individual', 'old@example.com', '{}', now(), now())",
        org,
    )
    command.upgrade(cfg, "head")

    async def seen_by_the_app(organization_id: str) -> int:
        conn = await asyncpg.connect(empty_database, server_settings={"role": "kassa_app"})
        try:
            await conn.execute("SELECT set_config('kassa.organization_id', $1, false)", organization_id)
            return await conn.fetchval("SELECT count(*) FROM customers")
        finally:
            await conn.close()

    assert run_sync(lambda: seen_by_the_app(str(org))) == 1
    assert run_sync(lambda: seen_by_the_app(str(uuid.uuid4()))) == 0
    command.downgrade(cfg, "0008")
    assert [r["email"] for r in _fetch(empty_database, "SELECT email FROM customers")] == ["old@example.com"]
    command.upgrade(cfg, "head")
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert [r["version_num"] for r in _fetch(empty_database, "SELECT version_num FROM alembic_version")] == [head]
