"""Benchmark: webhook delivery, from `createCustomer` to the merchant's receiver.

Run from the project root with the virtualenv's Python:

    .venv/bin/python bench/webhooks.py

It needs a PostgreSQL (trust auth, user `postgres`) on 127.0.0.1:5432 and a Redis on
127.0.0.1:6379; override them with BENCH_DATABASE_URL / BENCH_REDIS_URL. It drops and re-creates
the database of BENCH_DATABASE_URL (`kassa_bench_webhooks` by default), migrates it, flushes the
Redis database of BENCH_REDIS_URL (db 6 by default), and starts, each in its own process:

* a receiver: a minimal asyncio HTTP/1.1 server on 127.0.0.1 that answers 200 to every POST and
  records the arrival time, the path (which endpoint), the `webhook-*` headers and the body;
* `kassa serve` with KASSA_ENV=development (so endpoints may point at 127.0.0.1);
* `kassa worker` (one process, arq max_jobs=20), only when a phase says so.

Two organizations: "Bench A" with one endpoint (`/a/0`) and "Bench B" with ten (`/b/0`..`/b/9`),
every endpoint subscribed to CUSTOMER_CREATED only. Every event of B goes to all ten endpoints.

1. Throughput, one endpoint: with no worker running, create A_CUSTOMERS customers in A, then start
   the worker and time the deliveries from the first receipt to the last (one endpoint: one at a
   time, in order). Every event queued a `webhooks.deliver` job of its own; the benchmark waits
   until arq's queue holds none (reported as "jobs left"), then stops the worker.
2. Throughput, ten endpoints: the same with B_CUSTOMERS customers in B (x 10 deliveries), again
   waiting for the leftover jobs, so that the next phase starts with an idle worker.
3. Latency: with that worker still running, create LATENCY_CUSTOMERS customers in A one at a
   time, LATENCY_PAUSE apart, and take receipt time minus the payload's `timestamp` (set in the
   committing transaction, just before the commit) per event.

At the end every (endpoint, webhook-id) must have arrived exactly once, each endpoint in event
order, with a valid signature. Figures are printed one per line as `name: value`; the last line
is the one the benchmark is judged by.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/ is not a package
import harness  # noqa: E402  (puts the project root on sys.path too)

import asyncio  # noqa: E402
import base64  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime  # noqa: E402

from harness import BenchError, Proc, Processes  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/kassa_bench_webhooks"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"

A_CUSTOMERS = 1000  # phase A: 1 endpoint -> 1000 deliveries
B_CUSTOMERS = 200  # phase B: 10 endpoints -> 2000 deliveries
B_ENDPOINTS = 10
LATENCY_CUSTOMERS = 300
LATENCY_PAUSE = 0.020  # seconds between two createCustomer calls in the latency phase
SETUP_CONCURRENCY = 8
DELIVERY_TIMEOUT = 100.0  # seconds to wait for a phase's deliveries (the sweep runs every minute)
REQUEST_TIMEOUT = 60.0
QUEUE_DRAIN_TIMEOUT = 60.0  # seconds to wait for the worker's leftover jobs before the latency phase
EVENT_TYPE = "CUSTOMER_CREATED"
ARQ_QUEUE = "arq:queue"  # arq's default queue (WorkerSettings sets no queue_name)
ARQ_IN_PROGRESS = "arq:in-progress:"
SWEEP_JOB_MARK = ".sweep"  # the sweep jobs (cron runs and what they queue) are not the deliveries measured

CREATE_CUSTOMER = """
mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    __typename
    ... on CreateCustomerSuccess { customer { id } }
    ... on Error { code message }
  }
}
"""

CREATE_ENDPOINT = """
mutation CreateEndpoint($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    __typename
    ... on CreateWebhookEndpointSuccess { endpoint { id } secret }
    ... on Error { code message }
  }
}
"""


# -- receiver (runs in its own process: `bench/webhooks.py --receiver`) ------------------------


def _receiver_main() -> int:
    """Answer 200 to every POST and record it; GET /count and GET /records report back.

    Prints `PORT <n>` on stdout once listening. Records are kept raw in memory (arrival time,
    path, headers, body) and decoded only when /records is asked for."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    records: list[tuple[float, str, bytes, bytes, bytes, bytes]] = []
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"

    def reply_json(value) -> bytes:
        body = json.dumps(value).encode()
        return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body) + body

    def dump() -> list[dict]:
        out = []
        for arrived, path, wid, wts, wsig, body in records:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {}
            data = payload.get("data") or {}
            out.append(
                {
                    "t": arrived,
                    "path": path,
                    "id": wid.decode("latin-1"),
                    "wts": wts.decode("latin-1"),
                    "sig": wsig.decode("latin-1"),
                    "body": body.decode("utf-8", "replace"),
                    "email": data.get("email"),
                    "timestamp": payload.get("timestamp"),
                }
            )
        return out

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.split(b"\r\n")
                parts = lines[0].split(b" ")
                if len(parts) < 2:
                    return
                method, path = parts[0], parts[1].decode("latin-1")
                headers: dict[bytes, bytes] = {}
                for line in lines[1:]:
                    if b":" in line:
                        name, _, value = line.partition(b":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get(b"content-length", b"0") or 0)
                body = await reader.readexactly(length) if length else b""
                if method == b"POST":
                    records.append(
                        (
                            time.time(),
                            path,
                            headers.get(b"webhook-id", b""),
                            headers.get(b"webhook-timestamp", b""),
                            headers.get(b"webhook-signature", b""),
                            body,
                        )
                    )
                    writer.write(ok)
                elif path == "/count":
                    writer.write(reply_json({"count": len(records)}))
                elif path == "/records":
                    writer.write(reply_json(dump()))
                else:
                    writer.write(ok)
                if headers.get(b"connection", b"").lower() == b"close":
                    await writer.drain()
                    return
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()

    asyncio.run(serve())
    return 0


# -- database ----------------------------------------------------------------------------------


@dataclass
class Attempt:
    url: str
    email: str | None
    event_created: float  # epoch seconds: the payload's timestamp
    attempted: float  # epoch seconds: when the worker started the attempt
    duration_ms: int  # the POST, with the DNS resolve before it


async def _delivery_rows(
    database_url: str,
) -> tuple[dict[str, int], list[tuple[str, str]], dict[str, int], list[Attempt]]:
    """event id -> sequence; (endpoint url, event id) of every delivery; deliveries by status;
    every attempt."""
    import asyncpg

    conn = await asyncpg.connect(**harness.pg_params(database_url))
    try:
        sequences = {str(r["id"]): r["sequence"] for r in await conn.fetch("SELECT id, sequence FROM webhook_events")}
        pairs = [
            (r["url"], str(r["event_id"]))
            for r in await conn.fetch(
                "SELECT e.url, d.event_id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id"
            )
        ]
        statuses = {r["status"]: r["n"] for r in await conn.fetch("SELECT status, count(*) AS n FROM webhook_deliveries GROUP BY status")}
        attempts = [
            Attempt(r["url"], r["email"], float(r["created"]), float(r["attempted"]), r["duration_ms"])
            for r in await conn.fetch(
                """
                SELECT e.url, ev.payload -> 'data' ->> 'email' AS email, extract(epoch FROM ev.created_at) AS created,
                       extract(epoch FROM a.attempted_at) AS attempted, a.duration_ms
                FROM webhook_delivery_attempts a
                JOIN webhook_deliveries d ON d.id = a.delivery_id
                JOIN webhook_endpoints e ON e.id = d.endpoint_id
                JOIN webhook_events ev ON ev.id = d.event_id
                ORDER BY a.attempted_at
                """
            )
        ]
    finally:
        await conn.close()
    return sequences, pairs, statuses, attempts


# -- processes ---------------------------------------------------------------------------------


def _start_receiver(procs: Processes) -> tuple[Proc, int]:
    popen = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--receiver"],
        cwd=harness.ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        start_new_session=True,
    )
    proc = Proc("receiver", popen, "")
    procs.add(proc)
    line = popen.stdout.readline() if popen.stdout else ""
    if not line.startswith("PORT "):
        raise BenchError(f"the receiver did not start (said {line!r})")
    return proc, int(line.split()[1])


# -- HTTP --------------------------------------------------------------------------------------


def _client(base_url: str, token: str | None = None):
    import httpx

    limits = httpx.Limits(max_connections=SETUP_CONCURRENCY, max_keepalive_connections=SETUP_CONCURRENCY)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=REQUEST_TIMEOUT)


async def _graphql(client, query: str, variables: dict, field_name: str, success: str) -> dict:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    if not response.is_success:
        raise BenchError(f"POST /graphql answered {response.status_code}: {response.text[:1000]}")
    body = response.json()
    if body.get("errors"):
        raise BenchError(f"{field_name} returned errors: {body['errors']}")
    result = (body.get("data") or {}).get(field_name) or {}
    if result.get("__typename") != success:
        raise BenchError(f"{field_name} did not succeed: {result}")
    return result


async def _create_endpoints(base_url: str, token: str, urls: list[str]) -> dict[str, str]:
    """url -> secret."""
    secrets: dict[str, str] = {}
    async with _client(base_url, token) as client:
        for url in urls:
            result = await _graphql(
                client,
                CREATE_ENDPOINT,
                {"input": {"url": url, "eventTypes": [EVENT_TYPE]}},
                "createWebhookEndpoint",
                "CreateWebhookEndpointSuccess",
            )
            secrets[url] = result["secret"]
    return secrets


async def _create_customer(client, index: int) -> None:
    await _graphql(
        client, CREATE_CUSTOMER, {"input": {"email": f"b{index}@example.com"}}, "createCustomer", "CreateCustomerSuccess"
    )


async def _create_customers(base_url: str, token: str, first_index: int, count: int) -> float:
    started = time.perf_counter()
    async with _client(base_url, token) as client:
        await harness.pool(count, SETUP_CONCURRENCY, lambda i, _slot: _create_customer(client, first_index + i))
    return time.perf_counter() - started


async def _create_customers_paced(base_url: str, token: str, first_index: int, count: int) -> None:
    async with _client(base_url, token) as client:
        for i in range(count):
            await _create_customer(client, first_index + i)
            await asyncio.sleep(LATENCY_PAUSE)


def _queue_depth(redis_url: str) -> int:
    """`webhooks.deliver` jobs queued (due now or within a few seconds) or running. arq's cron
    job (`webhooks.sweep.cron`) is left out: it always has its next run queued."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        soon = time.time() * 1000 + 5000
        queued = [i.decode() for i in client.zrangebyscore(ARQ_QUEUE, "-inf", soon)]
        running = [k.decode()[len(ARQ_IN_PROGRESS):] for k in client.scan_iter(match=ARQ_IN_PROGRESS + "*", count=1000)]
        return sum(1 for job_id in queued + running if SWEEP_JOB_MARK not in job_id)
    finally:
        client.close()


def _wait_queue_drained(redis_url: str, timeout: float = QUEUE_DRAIN_TIMEOUT) -> tuple[int, float]:
    """Wait until the worker has no delivery job left; returns (jobs left at the start, seconds)."""
    started = time.monotonic()
    left = depth = _queue_depth(redis_url)
    while depth and time.monotonic() - started < timeout:
        time.sleep(0.05)
        depth = _queue_depth(redis_url)
    if depth:
        raise BenchError(f"the worker still has {depth} delivery jobs queued or running after {timeout:.0f} s")
    return left, time.monotonic() - started


def _receiver_count(receiver_url: str) -> int:
    import httpx

    return httpx.get(f"{receiver_url}/count", timeout=10).json()["count"]


def _receiver_records(receiver_url: str) -> list[dict]:
    import httpx

    return httpx.get(f"{receiver_url}/records", timeout=60).json()


def _wait_for(receiver_url: str, total: int, watch: list[Proc], timeout: float = DELIVERY_TIMEOUT) -> int:
    """Poll the receiver until it has `total` records; returns how many it has."""
    deadline = time.monotonic() + timeout
    count = _receiver_count(receiver_url)
    while count < total and time.monotonic() < deadline:
        for proc in watch:
            if proc.popen.poll() is not None:
                raise BenchError(f"the {proc.name} exited with code {proc.popen.returncode}:\n{harness.tail(proc.log)}")
        time.sleep(0.05)
        count = _receiver_count(receiver_url)
    return count


# -- figures -----------------------------------------------------------------------------------


@dataclass
class Throughput:
    name: str
    expected: int
    received: int = 0
    worker_started: float = 0.0  # time.time()
    first: float = 0.0
    last: float = 0.0
    leftover_jobs: int = 0  # delivery jobs still queued or running when the last delivery arrived
    drain_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        span = self.last - self.first
        return (self.received - 1) / span if self.received > 1 and span > 0 else 0.0


def _throughput(name: str, records: list[dict], paths: set[str], expected: int, worker_started: float) -> Throughput:
    mine = sorted(r["t"] for r in records if r["path"] in paths and r["t"] >= worker_started)
    result = Throughput(name=name, expected=expected, received=len(mine), worker_started=worker_started)
    if mine:
        result.first, result.last = mine[0], mine[-1]
    return result


def _job_runs(log_path: str) -> Counter:
    """Counts of the worker's `webhooks.deliver` runs, from arq's log lines."""
    runs: Counter = Counter()
    try:
        with open(log_path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                match = re.search(r"sent=(\d+) succeeded=(\d+) locked=(True|False)", line)
                if not match:
                    continue
                runs["runs"] += 1
                if match.group(3) == "True":
                    runs["locked"] += 1
                elif match.group(1) == "0":
                    runs["empty"] += 1
                runs["sent"] += int(match.group(1))
    except OSError:
        pass
    return runs


def _signature_ok(secret: str, record: dict) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{record['id']}.{record['wts']}.".encode() + record["body"].encode()
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, part) for part in record["sig"].split())


# -- main --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    phases: list[Throughput] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    latency_expected: int = 0
    create_seconds: dict[str, float] = field(default_factory=dict)
    job_runs: dict[str, Counter] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    latency_emails: set[str] = field(default_factory=set)


def _run(database_url: str, redis_url: str, procs: Processes) -> Outcome:
    outcome = Outcome()
    env = harness.server_env(database_url, redis_url, KASSA_ENV="development")

    _receiver, receiver_port = _start_receiver(procs)
    receiver_url = f"http://127.0.0.1:{receiver_port}"

    api, base_url = harness.start_api(procs, env, name="api")

    _organization_a, token_a = harness.create_org(env, "Bench A")
    _organization_b, token_b = harness.create_org(env, "Bench B")
    urls_a = [f"{receiver_url}/a/0"]
    urls_b = [f"{receiver_url}/b/{k}" for k in range(B_ENDPOINTS)]
    outcome.secrets.update(asyncio.run(_create_endpoints(base_url, token_a, urls_a)))
    outcome.secrets.update(asyncio.run(_create_endpoints(base_url, token_b, urls_b)))
    paths_a = {"/a/0"}
    paths_b = {f"/b/{k}" for k in range(B_ENDPOINTS)}
    index = 0  # customer emails b{index}@example.com, unique across the run

    # Phase A: 1 endpoint, the backlog built with no worker running.
    outcome.create_seconds["A"] = asyncio.run(_create_customers(base_url, token_a, index, A_CUSTOMERS))
    index += A_CUSTOMERS
    expected_total = A_CUSTOMERS
    started = time.time()
    worker = harness.start_worker(procs, env, "worker-a")
    _wait_for(receiver_url, expected_total, [worker, api])
    records = _receiver_records(receiver_url)
    phase = _throughput("1 endpoint", records, paths_a, A_CUSTOMERS, started)
    # Every event queued a job of its own; most find the endpoint locked. Let the worker finish
    # them before stopping it, so that no job is cancelled half way.
    phase.leftover_jobs, phase.drain_seconds = _wait_queue_drained(redis_url)
    outcome.phases.append(phase)
    procs.stop(worker)
    outcome.job_runs["A"] = _job_runs(worker.log)

    # Phase B: 10 endpoints of one organization, every event to all ten.
    outcome.create_seconds["B"] = asyncio.run(_create_customers(base_url, token_b, index, B_CUSTOMERS))
    index += B_CUSTOMERS
    expected_total += B_CUSTOMERS * B_ENDPOINTS
    started = time.time()
    worker = harness.start_worker(procs, env, "worker-b")
    _wait_for(receiver_url, expected_total, [worker, api])
    records = _receiver_records(receiver_url)
    phase = _throughput(f"{B_ENDPOINTS} endpoints", records, paths_b, B_CUSTOMERS * B_ENDPOINTS, started)
    # The same leftover jobs: drain them so that the latency phase measures an idle worker, not
    # that backlog (the arq queue is first in, first out).
    phase.leftover_jobs, phase.drain_seconds = _wait_queue_drained(redis_url)
    outcome.phases.append(phase)

    # Latency: the worker keeps running; one customer at a time in organization A.
    latency_emails = outcome.latency_emails = {f"b{index + i}@example.com" for i in range(LATENCY_CUSTOMERS)}
    asyncio.run(_create_customers_paced(base_url, token_a, index, LATENCY_CUSTOMERS))
    index += LATENCY_CUSTOMERS
    expected_total += LATENCY_CUSTOMERS
    outcome.latency_expected = LATENCY_CUSTOMERS
    _wait_for(receiver_url, expected_total, [worker, api])
    time.sleep(1.0)  # let a late duplicate, if any, arrive
    procs.stop(worker)
    outcome.job_runs["B+latency"] = _job_runs(worker.log)
    outcome.records = _receiver_records(receiver_url)
    for record in outcome.records:
        if record["path"] in paths_a and record["email"] in latency_emails and record["timestamp"]:
            committed = datetime.fromisoformat(record["timestamp"]).timestamp()
            outcome.latencies_ms.append((record["t"] - committed) * 1000)
    return outcome


def main() -> int:
    database_url, redis_url = harness.urls(DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL)
    harness.fresh_database(database_url)
    harness.flush_redis(redis_url)

    procs = Processes()
    try:
        outcome = _run(database_url, redis_url, procs)
    except BaseException:
        procs.print_logs()
        raise
    finally:
        procs.stop_all()
    procs.remove_logs()

    # Exactly once, in order, signed: against the deliveries the database holds.
    sequences, pairs, statuses, attempts = asyncio.run(_delivery_rows(database_url))
    path_of = {url: "/" + url.split("/", 3)[3] for url in outcome.secrets}
    expected = Counter((path_of[url], event_id) for url, event_id in pairs)
    received = Counter((r["path"], r["id"]) for r in outcome.records)
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    missing = sum(1 for key in expected if key not in received)
    unexpected = sum(1 for key in received if key not in expected)
    by_path: dict[str, list[dict]] = defaultdict(list)
    for record in sorted(outcome.records, key=lambda r: r["t"]):
        by_path[record["path"]].append(record)
    out_of_order = 0
    for records in by_path.values():
        last = -1
        for record in records:
            seq = sequences.get(record["id"], -1)
            if seq < last:
                out_of_order += 1
            last = max(last, seq)
    secret_of = {path_of[url]: secret for url, secret in outcome.secrets.items()}
    bad_signatures = sum(1 for r in outcome.records if r["path"] not in secret_of or not _signature_ok(secret_of[r["path"]], r))

    print(f"machine: {harness.machine()}")
    print(
        f"setup: createCustomer x{A_CUSTOMERS} (org A, 1 endpoint) in {outcome.create_seconds['A']:.1f} s, "
        f"x{B_CUSTOMERS} (org B, {B_ENDPOINTS} endpoints, every event to each) in {outcome.create_seconds['B']:.1f} s, "
        f"{SETUP_CONCURRENCY} in flight; one worker (arq max_jobs=20)"
    )
    for phase in outcome.phases:
        print(
            f"{phase.name}: {phase.received}/{phase.expected} deliveries; worker start to first receipt "
            f"{(phase.first - phase.worker_started) if phase.received else float('nan'):.2f} s, "
            f"first to last receipt {phase.last - phase.first:.2f} s; then {phase.leftover_jobs} jobs left "
            f"(queued or running), done in {phase.drain_seconds:.1f} s"
        )
    for name, runs in outcome.job_runs.items():
        print(
            f"worker {name}: webhooks.deliver runs: {runs['runs']} "
            f"({runs['locked']} found the endpoint locked, {runs['empty']} found nothing to send), sent {runs['sent']}"
        )
    a_attempts = [x for x in attempts if path_of.get(x.url) == "/a/0" and x.email not in outcome.latency_emails]
    gaps = [(n.attempted - p.attempted) * 1000 for p, n in zip(a_attempts, a_attempts[1:])]
    if gaps:
        print(
            f"1 endpoint, where the time goes: one attempt started every {harness.percentile(gaps, 0.5):.1f} ms (p50), "
            f"of which the POST with its DNS resolve {sum(x.duration_ms for x in a_attempts) / len(a_attempts):.1f} ms (mean); "
            "the rest is the worker's database round trips and bookkeeping"
        )
    l_attempts = [x for x in attempts if path_of.get(x.url) == "/a/0" and x.email in outcome.latency_emails]
    if l_attempts:
        waits = [(x.attempted - x.event_created) * 1000 for x in l_attempts]
        print(
            f"latency, where the time goes: payload timestamp to the worker's attempt p50 {harness.percentile(waits, 0.5):.1f} ms, "
            f"p99 {harness.percentile(waits, 0.99):.1f} ms (commit, enqueue, arq picking the job up, the run's queries)"
        )
    a, b = outcome.phases
    print(f"deliveries per second, 1 endpoint (in order): {a.per_second:.1f}")
    print(f"deliveries per second, {B_ENDPOINTS} endpoints: {b.per_second:.1f}")
    if outcome.latencies_ms:
        print(
            f"latency: {len(outcome.latencies_ms)}/{outcome.latency_expected} events, one createCustomer every "
            f"~{LATENCY_PAUSE * 1000:.0f} ms + request time; max {max(outcome.latencies_ms):.1f} ms"
        )
        print(f"commit to receipt p50 ms: {harness.percentile(outcome.latencies_ms, 0.50):.1f}")
        print(f"commit to receipt p99 ms: {harness.percentile(outcome.latencies_ms, 0.99):.1f}")
    else:
        print("commit to receipt p50 ms: n/a (nothing arrived)")
        print("commit to receipt p99 ms: n/a (nothing arrived)")
    print(
        f"deliveries in the database: {sum(expected.values())} ({', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))}); "
        f"attempts: {len(attempts)}"
    )
    print(f"received: {len(outcome.records)}; missing: {missing}; unexpected: {unexpected}")
    print(f"out of order: {out_of_order}; bad signatures: {bad_signatures}")
    print(f"duplicates: {duplicates}")
    print("target: every event delivered exactly once; p99 commit-to-receipt reported (no fixed target)")
    return 0 if duplicates == 0 and missing == 0 and unexpected == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--receiver":
        sys.exit(_receiver_main())
    harness.run(main)
