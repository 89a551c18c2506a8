"""What every benchmark in `bench/` shares; not a benchmark itself (`make bench` skips it).

The project root on the import path; a scratch database (dropped, re-created, migrated) and Redis
database; the processes a benchmark starts (`kassa serve`, `kassa worker`), their logs, waiting for
`/health` and stopping them; an organization and its access token from `kassa org create`; and the
figures' helpers: a free port, a bounded pool of coroutines, percentiles and the `machine:` line.

`bench/` is not a package. A benchmark puts its own directory on `sys.path` (Python already does
for the script it runs) and then `import harness`, which puts the project root there too:

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import asyncio  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any, Awaitable, Callable, NoReturn  # noqa: E402

SERVER_START_TIMEOUT = 60.0  # seconds for `kassa serve` to answer /health
STOP_TIMEOUT = 15.0  # seconds a process gets to shut down on SIGINT before it is terminated


class BenchError(RuntimeError):
    """The benchmark cannot go on; `run` prints it as `benchmark failed: ...` and exits with 1."""


def run(main: Callable[[], int]) -> NoReturn:
    """Exit with `main()`'s status, or print the BenchError that stopped it and exit with 1."""
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        sys.exit(1)


def urls(default_database_url: str, default_redis_url: str) -> tuple[str, str]:
    """(database URL, Redis URL): BENCH_DATABASE_URL / BENCH_REDIS_URL, or the benchmark's defaults."""
    return (
        os.environ.get("BENCH_DATABASE_URL") or default_database_url,
        os.environ.get("BENCH_REDIS_URL") or default_redis_url,
    )


# -- database and Redis ------------------------------------------------------------------------


def pg_params(database_url: str, database: str | None = None) -> dict:
    """asyncpg.connect() arguments for `database_url`, or for another database on that server."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username or "postgres",
        "password": url.password,
        "database": database or url.database,
    }


async def recreate_database(database_url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    name = make_url(database_url).database
    if not name or name == "postgres":
        raise BenchError(f"refusing to drop database {name!r}; point BENCH_DATABASE_URL at a scratch database")
    conn = await asyncpg.connect(**pg_params(database_url, "postgres"))
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        await conn.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()


def migrate(database_url: str) -> None:
    try:
        from app.platform.migrations import run_migrations
    except ImportError:
        run_migrations = None
    if run_migrations is not None:
        run_migrations(database_url)
        return
    alembic = os.path.join(os.path.dirname(sys.executable), "alembic")
    if not os.path.exists(alembic):
        alembic = shutil.which("alembic") or os.path.join(ROOT, ".venv", "bin", "alembic")
    subprocess.run([alembic, "upgrade", "head"], cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url}, check=True)


def fresh_database(database_url: str) -> None:
    """Drop and re-create the benchmark's database, then migrate it."""
    asyncio.run(recreate_database(database_url))
    migrate(database_url)


def flush_redis(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, redis_url: str, **overrides: str | None) -> dict[str, str]:
    """The environment of the processes a benchmark starts: this one's, with the benchmark's
    database and Redis, unbuffered output, the project importable, and `overrides` (None removes
    a variable, e.g. KASSA_EXPOSE_SQL_COUNT=None to measure production)."""
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, PYTHONUNBUFFERED="1")
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def tail(path: str, lines: int = 40) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: str  # the file its output goes to; "" when the benchmark reads the output itself


class Processes:
    """Everything a benchmark started, stopped in reverse order."""

    def __init__(self) -> None:
        self.running: list[Proc] = []
        self.logs: list[str] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        """Start `argv` from the project root, its output to a temporary log file."""
        log = tempfile.NamedTemporaryFile(prefix=f"kassa-bench-{name}-", suffix=".log", delete=False)
        popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        proc = Proc(name, popen, log.name)
        self.running.append(proc)
        self.logs.append(log.name)
        return proc

    def add(self, proc: Proc) -> None:
        """Take charge of a process the benchmark started itself."""
        self.running.append(proc)

    def stop(self, proc: Proc) -> None:
        popen = proc.popen
        if popen.poll() is None:
            popen.send_signal(signal.SIGINT)  # uvicorn and arq shut down gracefully on SIGINT
            try:
                popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                popen.terminate()
                try:
                    popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    popen.kill()
                    popen.wait()
        if popen.stdout is not None:
            popen.stdout.close()
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.running)):
            self.stop(proc)

    def print_logs(self) -> None:
        """On failure: the last lines of every running process's log, on stderr."""
        for proc in self.running:
            text = tail(proc.log) if proc.log else ""
            if text:
                print(f"--- {proc.name} log ({proc.log}), last lines ---\n{text}", file=sys.stderr)

    def remove_logs(self) -> None:
        if os.environ.get("BENCH_KEEP_LOGS"):
            print("logs kept: " + " ".join(self.logs), file=sys.stderr)
            return
        for path in self.logs:
            try:
                os.unlink(path)
            except OSError:
                pass


def wait_healthy(base_url: str, proc: Proc, timeout: float = SERVER_START_TIMEOUT) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise BenchError(f"the server exited with code {proc.popen.returncode} before answering /health:\n{tail(proc.log)}")
        try:
            response = httpx.get(f"{base_url}/health", timeout=2.0)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise BenchError(f"/health did not answer 200 within {timeout:.0f}s (last: {last}):\n{tail(proc.log)}")


def start_api(procs: Processes, env: dict[str, str], name: str = "server") -> tuple[Proc, str]:
    """`kassa serve` on a free port, answering /health: (the process, its base URL)."""
    port = free_port()
    # /health here means "the API is up": leave out the worker and lag checks (no worker may run yet)
    env = {**env, "KASSA_HEALTH_WORKER_STALE": "0", "KASSA_HEALTH_MAX_LAG": "0"}
    proc = procs.start(name, [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env)
    base_url = f"http://127.0.0.1:{port}"
    wait_healthy(base_url, proc)
    return proc, base_url


def start_worker(procs: Processes, env: dict[str, str], name: str = "worker") -> Proc:
    """`kassa worker` (one arq process)."""
    return procs.start(name, [sys.executable, "-m", "app.cli", "worker"], env)


def wait_for_workers(redis_url: str, since_ms: int, procs: list[Proc], timeout: float = 60.0) -> None:
    """Until every worker of `procs` has checked in (app/platform/health.py) since `since_ms`;
    BenchError if one exits or they do not within `timeout` seconds."""
    import redis

    from app.platform.health import HEARTBEATS_KEY

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for proc in procs:
                if proc.popen.poll() is not None:
                    raise BenchError(f"the {proc.name} exited with code {proc.popen.returncode}:\n{tail(proc.log)}")
            if client.zcount(HEARTBEATS_KEY, since_ms, "+inf") >= len(procs):
                return
            time.sleep(0.1)
    finally:
        client.close()
    raise BenchError(f"{len(procs)} workers did not check in within {timeout:.0f} s")


def wait_for_idle_queue(redis_url: str, timeout: float = 300.0) -> float:
    """Until the workers have run every job due (arq's queue holds none due within the next
    second, three checks in a row): a scenario starts from a steady state, not behind the jobs its
    set-up asked for. Returns the seconds waited."""
    import redis
    from arq.constants import default_queue_name

    client = redis.Redis.from_url(redis_url)
    started = time.monotonic()
    quiet = 0
    try:
        while time.monotonic() - started < timeout:
            due = client.zcount(default_queue_name, "-inf", int(time.time() * 1000) + 1000)
            quiet = quiet + 1 if due == 0 else 0
            if quiet >= 3:
                return time.monotonic() - started
            time.sleep(0.1)
    finally:
        client.close()
    raise BenchError(f"the workers did not run the queued jobs within {timeout:.0f} s")


def create_org(env: dict[str, str], name: str = "Bench") -> tuple[uuid.UUID, str]:
    """`kassa org create NAME`: (organization id, access token)."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "org", "create", name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise BenchError(f"`kassa org create` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    organization_id = token = None
    for line in done.stdout.splitlines():
        if line.startswith("access token:"):
            token = line.split(":", 1)[1].strip()
        elif line.startswith("organization:") and line.rstrip().endswith(")"):
            organization_id = uuid.UUID(line.rstrip()[:-1].rsplit("(", 1)[1])
    if token is None or organization_id is None:
        raise BenchError(f"`kassa org create` printed no organization id or access token:\n{done.stdout}")
    return organization_id, token


# -- load and figures --------------------------------------------------------------------------


def with_api(
    default_database_url: str,
    default_redis_url: str,
    bench: Callable[[str, str, str, uuid.UUID], Awaitable[Any]],
    *,
    flush: bool = True,
    **env_overrides: str | None,
) -> Any:
    """The frame of a benchmark against a running API: a fresh database (and Redis when `flush`),
    the API server, an organization with a token; then `bench(base_url, token, database_url,
    organization_id)`. The server is stopped whatever happens; its log is printed on failure."""
    database_url, redis_url = urls(default_database_url, default_redis_url)
    fresh_database(database_url)
    if flush:
        flush_redis(redis_url)
    env = server_env(database_url, redis_url, **env_overrides)
    procs = Processes()
    try:
        _server, base_url = start_api(procs, env)
        organization_id, token = create_org(env)
        result = asyncio.run(bench(base_url, token, database_url, organization_id))
    except BaseException:
        procs.print_logs()
        raise
    finally:
        procs.stop_all()
        if flush:
            try:
                flush_redis(redis_url)  # the jobs no worker ran
            except Exception:  # noqa: BLE001
                pass
    procs.remove_logs()
    return result


async def pool(count: int, concurrency: int, job: Callable[[int, int], Awaitable[None]]) -> None:
    """Run job(i, slot) for i in range(count), at most `concurrency` at a time; `slot` says which
    of the `concurrency` workers runs it (for a resource of its own, e.g. a connection)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker(slot: int) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await job(i, slot)

    workers = [asyncio.create_task(worker(slot)) for slot in range(min(concurrency, count))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between the two nearest ranks (`fraction` 0.5 is the median)."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def machine() -> str:
    """What the `machine:` line says: cores, OS, Python."""
    system = f"{platform.system()} {platform.release()} ({platform.machine()})"
    return f"{os.cpu_count()} cores, {system}, Python {platform.python_version()}"
