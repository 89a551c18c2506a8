"""Programmatic `alembic upgrade head` with the project's alembic.ini."""

from __future__ import annotations

import asyncio
import threading

from app.config import PROJECT_ROOT


def _config(database_url: str):
    from alembic.config import Config

    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logging"] = False
    return cfg


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
