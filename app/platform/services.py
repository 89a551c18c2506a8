"""Which PostgreSQL and Redis Kassa talks to.

Order, for each of the two independently:

1. `DATABASE_URL` / `REDIS_URL` (settings.database_url / settings.redis_url): what you set
   explicitly always wins.
2. The services of a `kassa run` supervisor running now on the same data folder: it publishes the
   ones it uses (embedded, local or from its own environment) in `data_dir/services.json` while it
   runs (see `write_services_file`), so that `kassa org create` in another terminal writes to the
   database the running API reads.
3. A server answering on `settings.local_postgres` / `settings.local_redis` (127.0.0.1:5432 and
   127.0.0.1:6379 by default): PostgreSQL as user `postgres` without a password (trust auth), in
   database `settings.local_database_name` ("kassa"), created if missing; Redis database 0.
4. If `allow_embedded`, new embedded servers (`app.platform.embedded`); else `SystemExit`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar
from urllib.parse import parse_qs, unquote, urlparse

if TYPE_CHECKING:
    from arq.connections import RedisSettings

    from app.config import Settings
    from app.platform.embedded import EmbeddedServices

T = TypeVar("T")

SERVICES_FILE = "services.json"
PROBE_TIMEOUT = 0.5


@dataclass
class ResolvedServices:
    database_url: str
    redis_url: str
    embedded: "EmbeddedServices | None" = None
    postgres_source: str = ""
    redis_source: str = ""
    # pid of the running `kassa run` whose services.json supplied at least one of the two
    published_by: int | None = None

    def stop(self) -> None:
        """Stop the embedded servers this process started (if any). Idempotent."""
        if self.embedded is not None:
            self.embedded.stop()


# -- helpers -----------------------------------------------------------------------------------


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even if this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="kassa-run-sync")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _split_host_port(value: str, default_port: int) -> tuple[str, int]:
    value = value.strip()
    if value.startswith("["):  # [::1]:5432
        host, _, rest = value[1:].partition("]")
        port = rest.lstrip(":")
        return host, int(port) if port else default_port
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, default_port
    return host, int(port)


def tcp_answers(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def ensure_database(name: str, *, user: str = "postgres", host: str = "127.0.0.1", port: int | None = 5432) -> bool:
    """Create database `name` if missing (connecting to database `postgres`). True if created."""
    import asyncpg

    async def main() -> bool:
        conn = await asyncpg.connect(host=host, port=port or 5432, user=user, database="postgres", timeout=10)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if exists:
                return False
            quoted = '"' + name.replace('"', '""') + '"'
            try:
                await conn.execute(f"CREATE DATABASE {quoted}")
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                return False  # created concurrently by another process
            return True
        finally:
            await conn.close()

    return run_sync(main)


# -- services.json -----------------------------------------------------------------------------


def services_file(settings: "Settings") -> Path:
    return Path(settings.data_dir) / SERVICES_FILE


def _process_create_time(pid: int) -> float | None:
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:  # noqa: BLE001
        return None


def _pid_alive(pid: int, create_time: float | None) -> bool:
    try:
        import psutil

        proc = psutil.Process(pid)
        if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
            return False
        # Guard against pid reuse when the start time was recorded.
        return create_time is None or abs(proc.create_time() - create_time) < 1.0
    except Exception:  # noqa: BLE001
        return False


def write_services_file(settings: "Settings", *, database_url: str | None, redis_url: str | None) -> Path:
    """Publish this supervisor's services for other `kassa` commands (atomic write, mode 0600)."""
    path = services_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    payload = {
        "pid": pid,
        "create_time": _process_create_time(pid),
        "database_url": database_url,
        "redis_url": redis_url,
        "written_at": time.time(),
    }
    tmp = path.with_name(f".{path.name}.{pid}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def remove_services_file(settings: "Settings") -> None:
    """Remove services.json if this process wrote it."""
    path = services_file(settings)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def read_services_file(settings: "Settings") -> dict[str, Any] | None:
    """The running supervisor's services, or None (no file, or its process is gone)."""
    try:
        data = json.loads(services_file(settings).read_text())
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _pid_alive(pid, data.get("create_time")):
        return None
    return data


# -- resolution --------------------------------------------------------------------------------


def _local_postgres(settings: "Settings") -> str | None:
    host, port = _split_host_port(settings.local_postgres, 5432)
    if not tcp_answers(host, port):
        return None
    name = settings.local_database_name
    try:
        ensure_database(name, host=host, port=port)
    except Exception as exc:  # noqa: BLE001 - explain and stop
        raise SystemExit(
            f"PostgreSQL answers on {host}:{port} but user postgres cannot use it without a password "
            f"({type(exc).__name__}: {exc}); set DATABASE_URL"
        ) from exc
    from urllib.parse import quote

    return f"postgresql+asyncpg://postgres@{_url_host(host)}:{port}/{quote(name, safe='')}"


def _local_redis(settings: "Settings") -> str | None:
    host, port = _split_host_port(settings.local_redis, 6379)
    if not tcp_answers(host, port):
        return None
    return f"redis://{_url_host(host)}:{port}/0"


def resolve_services(settings: "Settings", *, allow_embedded: bool, need_redis: bool = True) -> ResolvedServices:
    """Find PostgreSQL and Redis (see the module docstring); start embedded ones if allowed.

    With `need_redis=False` (database-only commands) a missing Redis is not an error and
    `redis_url` is then empty."""
    database_url, postgres_source = settings.database_url, "DATABASE_URL"
    redis_url, redis_source = settings.redis_url, "REDIS_URL"
    published_by = None

    if database_url is None or redis_url is None:
        published = read_services_file(settings)
        if published is not None:
            where = f"from the running `kassa run` (pid {published['pid']}, {services_file(settings)})"
            if database_url is None and published.get("database_url"):
                database_url, postgres_source = published["database_url"], where
                published_by = int(published["pid"])
            if redis_url is None and published.get("redis_url"):
                redis_url, redis_source = published["redis_url"], where
                published_by = int(published["pid"])

    if database_url is None:
        database_url = _local_postgres(settings)
        postgres_source = f"local PostgreSQL on {settings.local_postgres}"
    if redis_url is None:
        redis_url = _local_redis(settings)
        redis_source = f"local Redis on {settings.local_redis}"

    if redis_url is None and not need_redis and not allow_embedded:
        redis_url, redis_source = "", "not needed"

    embedded = None
    if database_url is None or redis_url is None:
        if not allow_embedded:
            missing = []
            if database_url is None:
                missing.append(
                    f"no PostgreSQL: set DATABASE_URL, start one on {settings.local_postgres}, or use `kassa run`"
                )
            if redis_url is None:
                missing.append(f"no Redis: set REDIS_URL, start one on {settings.local_redis}, or use `kassa run`")
            raise SystemExit("; ".join(missing))
        from app.platform.embedded import EmbeddedServices

        embedded = EmbeddedServices.start(
            Path(settings.data_dir),
            database_name=settings.local_database_name,
            postgres=database_url is None,
            redis=redis_url is None,
        )
        if database_url is None:
            database_url = embedded.database_url
            postgres_source = f"embedded PostgreSQL in {embedded.data_dir / 'postgres'}"
        if redis_url is None:
            redis_url = embedded.redis_url
            redis_source = f"embedded Redis in {embedded.data_dir / 'redis'}"

    assert database_url is not None and redis_url is not None
    return ResolvedServices(
        database_url=database_url,
        redis_url=redis_url,
        embedded=embedded,
        postgres_source=postgres_source,
        redis_source=redis_source,
        published_by=published_by,
    )


def describe_database(url: str) -> str:
    """`database "kassa" on 127.0.0.1:5432` (or `on socket /dir`): no user, no password."""
    parsed = urlparse(url)
    name = unquote(parsed.path.lstrip("/")) or "postgres"
    socket_dir = parse_qs(parsed.query).get("host", [None])[0]
    if parsed.hostname:
        where = f"{_url_host(parsed.hostname)}:{parsed.port or 5432}"
    elif socket_dir:
        where = f"socket {socket_dir}"
    else:
        where = "the default socket"
    return f'database "{name}" on {where}'


def describe_redis(url: str) -> str:
    """`redis://127.0.0.1:6379/0` without credentials."""
    parsed = urlparse(url)
    if parsed.hostname:
        return f"{parsed.scheme}://{_url_host(parsed.hostname)}:{parsed.port or 6379}{parsed.path}"
    return f"{parsed.scheme}://{parsed.path}" + (f"?{parsed.query}" if "db=" in parsed.query else "")


# -- arq -----------------------------------------------------------------------------------------


def redis_settings_from_url(url: str | None) -> "RedisSettings":
    """arq RedisSettings for redis://, rediss:// and unix:// URLs; None gives RedisSettings().

    - `redis://[user:password@]host[:port][/db]` (also `?db=N`)
    - `rediss://...` the same, with TLS
    - `unix:///path/to/redis.sock[?db=N]` (also `redis+unix://` / `redis-socket://`)
    """
    from arq.connections import RedisSettings

    if not url:
        return RedisSettings()
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    query = parse_qs(parsed.query)
    username = unquote(parsed.username) if parsed.username else None
    password = unquote(parsed.password) if parsed.password else None
    if "password" in query:
        password = query["password"][0]

    def database(default_from_path: bool) -> int:
        if "db" in query:
            return int(query["db"][0])
        path = parsed.path.strip("/")
        if default_from_path and path:
            return int(path)
        return 0

    if scheme in {"unix", "redis+unix", "redis-socket"}:
        if not parsed.path:
            raise ValueError(f"unix socket Redis URL without a path: {url!r}")
        return RedisSettings(
            unix_socket_path=unquote(parsed.path),
            database=database(False),
            username=username,
            password=password,
        )
    if scheme in {"redis", "rediss"}:
        return RedisSettings(
            host=parsed.hostname or "localhost",
            port=parsed.port or 6379,
            database=database(True),
            username=username,
            password=password,
            ssl=scheme == "rediss",
        )
    raise ValueError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {scheme or url!r}")
