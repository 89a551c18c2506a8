"""Benchmark: the nested `customers` list query over HTTP, page size 10 against page size 100.

Run from the project root with the virtualenv's Python:

    .venv/bin/python bench/graphql_read.py

It needs a PostgreSQL (trust auth, user `postgres`) on 127.0.0.1:5432 and a Redis on
127.0.0.1:6379; override them with BENCH_DATABASE_URL / BENCH_REDIS_URL. It drops and re-creates
the database of BENCH_DATABASE_URL (`kassa_bench` by default), migrates it, starts `kassa serve`
on a free port with KASSA_EXPOSE_SQL_COUNT=1, creates an organization with 300 business customers
(an owner and 3 members each) through the GraphQL API, then times the list query and reads the
number of SQL statements each request ran from the `X-Kassa-SQL-Statements` response header.

Figures are printed one per line as `name: value`; the last line is the one the benchmark is
judged by: how the SQL statement count grows from a page of 10 to a page of 100 (target 1.00).
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
from dataclasses import dataclass, field  # noqa: E402

import httpx  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/kassa_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"

CUSTOMERS = 300
MEMBERS_PER_CUSTOMER = 3  # plus the owner: 4 members each
SETUP_CONCURRENCY = 8
CONCURRENCY = 8
WARMUP_REQUESTS = 20
# page size -> timed requests (keeps the whole run well under two minutes on 2 cores)
RUNS = {10: 400, 100: 200}
SERVER_START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 60.0
SQL_HEADER = "X-Kassa-SQL-Statements"

CREATE_CUSTOMER = """
mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    __typename
    ... on CreateCustomerSuccess { customer { id } }
    ... on Error { code message }
  }
}
"""

LIST_CUSTOMERS = """
query List($first: Int!) {
  customers(first: $first) {
    edges { cursor node { id type email name externalId createdAt
      members { id role email name customer { id email } }
      owner { id email } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


class BenchError(RuntimeError):
    pass


# -- database ----------------------------------------------------------------------------------


async def _recreate_database(database_url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    name = url.database
    if not name or name == "postgres":
        raise BenchError(f"refusing to drop database {name!r}; point BENCH_DATABASE_URL at a scratch database")
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database="postgres",
    )
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        await conn.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()


def _migrate(database_url: str) -> None:
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


# -- server ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        KASSA_EXPOSE_SQL_COUNT="1",
        PYTHONUNBUFFERED="1",
    )
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _tail(path: str, lines: int = 40) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def _wait_healthy(base_url: str, server: subprocess.Popen, log_path: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"the server exited with code {server.returncode} before answering /health:\n{_tail(log_path)}")
        try:
            response = httpx.get(f"{base_url}/health", timeout=2.0)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise BenchError(f"/health did not answer 200 within {SERVER_START_TIMEOUT:.0f}s (last: {last}):\n{_tail(log_path)}")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully on SIGINT/SIGTERM
    try:
        server.wait(timeout=10)
        return
    except subprocess.TimeoutExpired:
        pass
    server.terminate()
    try:
        server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _create_org(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "org", "create", "Bench"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise BenchError(f"`kassa org create` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    for line in done.stdout.splitlines():
        if line.startswith("access token:"):
            return line.split(":", 1)[1].strip()
    raise BenchError(f"`kassa org create` printed no access token:\n{done.stdout}")


# -- HTTP --------------------------------------------------------------------------------------


async def _graphql(client: httpx.AsyncClient, query: str, variables: dict) -> httpx.Response:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    # Any 2xx: litestar's `@post` handlers answer 201 unless told otherwise.
    if not response.is_success:
        raise BenchError(f"POST /graphql answered {response.status_code}: {response.text[:1000]}")
    return response


async def _pool(count: int, concurrency: int, job) -> None:
    """Run job(i) for i in range(count), at most `concurrency` at a time."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await job(i)

    workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, count))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()


def _customer_input(i: int) -> dict:
    return {
        "type": "BUSINESS",
        "email": f"billing{i}@example.com",
        "name": f"Company {i}",
        "externalId": f"company-{i}",
        "owner": {"email": f"owner{i}@example.com", "name": f"Owner {i}"},
        "members": [
            {"email": f"m{i}-{j}@example.com", "name": f"Member {i}-{j}", "role": "BILLING_MANAGER" if j == 0 else "MEMBER"}
            for j in range(MEMBERS_PER_CUSTOMER)
        ],
    }


async def _create_customers(client: httpx.AsyncClient) -> None:
    async def job(i: int) -> None:
        body = (await _graphql(client, CREATE_CUSTOMER, {"input": _customer_input(i)})).json()
        if body.get("errors"):
            raise BenchError(f"createCustomer #{i} returned errors: {body['errors']}")
        result = (body.get("data") or {}).get("createCustomer") or {}
        if result.get("__typename") != "CreateCustomerSuccess":
            raise BenchError(f"createCustomer #{i} did not succeed: {result}")

    await _pool(CUSTOMERS, SETUP_CONCURRENCY, job)


def _check_page(body: dict, first: int) -> None:
    if body.get("errors"):
        raise BenchError(f"customers(first: {first}) returned errors: {body['errors']}")
    connection = (body.get("data") or {}).get("customers")
    if not connection:
        raise BenchError(f"customers(first: {first}) returned no data: {str(body)[:1000]}")
    edges = connection["edges"]
    if len(edges) != first:
        raise BenchError(f"customers(first: {first}) returned {len(edges)} edges")
    if not connection["pageInfo"]["hasNextPage"]:
        raise BenchError(f"customers(first: {first}) says there is no next page out of {CUSTOMERS}")


def _check_page_contents(body: dict, first: int) -> None:
    """Once per page size: every customer has its owner and members, each pointing back at it."""
    for edge in body["data"]["customers"]["edges"]:
        node = edge["node"]
        members = node["members"]
        if len(members) != MEMBERS_PER_CUSTOMER + 1:
            raise BenchError(f"customer {node['id']} lists {len(members)} members, expected {MEMBERS_PER_CUSTOMER + 1}")
        if not node["owner"] or node["owner"]["id"] != members[0]["id"] or members[0]["role"] != "OWNER":
            raise BenchError(f"customer {node['id']}: owner {node['owner']} is not the first member {members[0]}")
        for member in members:
            if member["customer"]["id"] != node["id"] or member["customer"]["email"] != node["email"]:
                raise BenchError(f"member {member['id']} points at {member['customer']}, not at customer {node['id']}")


@dataclass
class Run:
    first: int
    requests: int
    latencies: list[float] = field(default_factory=list)  # seconds
    statements: list[int] = field(default_factory=list)
    wall: float = 0.0


async def _timed_run(client: httpx.AsyncClient, first: int, requests: int) -> Run:
    run = Run(first=first, requests=requests)
    variables = {"first": first}

    async def request(record: bool) -> None:
        started = time.perf_counter()
        response = await _graphql(client, LIST_CUSTOMERS, variables)
        elapsed = time.perf_counter() - started
        body = response.json()
        _check_page(body, first)
        header = response.headers.get(SQL_HEADER)
        if header is None:
            raise BenchError(f"the response has no {SQL_HEADER} header (is KASSA_EXPOSE_SQL_COUNT honoured?)")
        if record:
            run.latencies.append(elapsed)
            run.statements.append(int(header))

    body = (await _graphql(client, LIST_CUSTOMERS, variables)).json()
    _check_page(body, first)
    _check_page_contents(body, first)

    await _pool(WARMUP_REQUESTS, CONCURRENCY, lambda _i: request(False))
    started = time.perf_counter()
    await _pool(requests, CONCURRENCY, lambda _i: request(True))
    run.wall = time.perf_counter() - started

    distinct = sorted(set(run.statements))
    if len(distinct) != 1:
        raise BenchError(f"page {first}: the SQL statement count varies between requests: {distinct}")
    return run


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def _measure(base_url: str, token: str) -> list[Run]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=REQUEST_TIMEOUT,
    ) as client:
        await _create_customers(client)
        return [await _timed_run(client, first, requests) for first, requests in RUNS.items()]


# -- main --------------------------------------------------------------------------------------


def _machine() -> str:
    system = f"{platform.system()} {platform.release()} ({platform.machine()})"
    return f"{os.cpu_count()} cores, {system}, Python {platform.python_version()}"


def main() -> int:
    database_url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL

    asyncio.run(_recreate_database(database_url))
    _migrate(database_url)

    env = _server_env(database_url, redis_url)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="kassa-bench-server-", suffix=".log", delete=False)
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_healthy(base_url, server, log.name)
        token = _create_org(env)
        runs = asyncio.run(_measure(base_url, token))
    except BaseException:
        tail = _tail(log.name)
        if tail:
            print(f"--- server log ({log.name}), last lines ---\n{tail}", file=sys.stderr)
        raise
    finally:
        _stop(server)
        log.close()
    try:
        os.unlink(log.name)
    except OSError:
        pass

    print(f"machine: {_machine()}")
    print(f"customers: {CUSTOMERS} (each {MEMBERS_PER_CUSTOMER + 1} members)")
    print(f"concurrency: {CONCURRENCY} requests in flight")
    for run in runs:
        prefix = f"page {run.first}"
        print(f"{prefix}: requests: {run.requests} (after {WARMUP_REQUESTS} warm-up)")
        print(f"{prefix}: sql statements per request: {run.statements[0]}")
        print(f"{prefix}: p50 latency ms: {_percentile(run.latencies, 0.50) * 1000:.1f}")
        print(f"{prefix}: p99 latency ms: {_percentile(run.latencies, 0.99) * 1000:.1f}")
        print(f"{prefix}: requests per second: {run.requests / run.wall:.1f}")
    small, large = runs[0], runs[-1]
    ratio = large.statements[0] / small.statements[0] if small.statements[0] else float("inf")
    print(
        f"sql statements ratio (page {large.first} / page {small.first}): {ratio:.2f} "
        "(target: 1.00, the count does not grow with the page)"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        sys.exit(1)
