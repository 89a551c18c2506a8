"""`kassa run` with nothing available: embedded PostgreSQL and Redis, end to end over HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _processes_using(folder: Path) -> list[psutil.Process]:
    """Live (non-zombie) processes whose command line or working folder mentions `folder`."""
    needle = str(folder)
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "cwd", "status"]):
        info = proc.info
        if info["status"] == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
            continue
        text = " ".join((info["cmdline"] or []) + [info["cwd"] or ""])
        if needle in text:
            found.append(proc)
    return found


def _server_processes(folder: Path) -> list[str]:
    return [
        f"{p.pid} {p.info['name']} {' '.join(p.info['cmdline'] or [])}"
        for p in _processes_using(folder)
        if any(word in (p.info["name"] or "") for word in ("postgres", "redis"))
        or any(word in " ".join(p.info["cmdline"] or []) for word in ("postgres", "redis-server"))
    ]


def test_kassa_run_with_embedded_services() -> None:
    data_dir = ROOT / ".data" / f"test-embedded-{uuid.uuid4().hex[:8]}"
    data_dir.mkdir(parents=True)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET"}}
    env.update(
        KASSA_LOCAL_POSTGRES="127.0.0.1:1",  # nothing listens there
        KASSA_LOCAL_REDIS="127.0.0.1:1",
        KASSA_DATA_DIR=str(data_dir),
        KASSA_HOST="127.0.0.1",
        KASSA_PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    log_path = data_dir / "supervisor.log"
    log = open(log_path, "w")
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )

    def output() -> str:
        log.flush()
        return log_path.read_text()

    base = f"http://127.0.0.1:{port}"
    try:
        # 1. The API comes up on embedded services.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert supervisor.poll() is None, f"kassa run exited with {supervisor.returncode}:\n{output()}"
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"/health did not answer 200 within {START_TIMEOUT} s:\n{output()}"
            time.sleep(0.25)
        assert (data_dir / "services.json").exists()

        # 2. The first start on an empty database created an organization; the banner shows its token.
        deadline = time.monotonic() + 10
        while "  stop         Ctrl+C" not in output():
            assert time.monotonic() < deadline, f"no banner:\n{output()}"
            time.sleep(0.1)
        banner_tokens = [line.split()[-1] for line in output().splitlines() if line.startswith("  access token kassa_oat_")]
        assert len(banner_tokens) == 1, output()
        response = httpx.post(
            f"{base}/graphql",
            json={"query": "{ organization { name } }"},
            headers={"Authorization": f"Bearer {banner_tokens[0]}"},
            timeout=10,
        )
        assert response.json()["data"]["organization"]["name"] == "My organization", response.text

        # 3. Another command finds them through services.json.
        created = subprocess.run(
            [sys.executable, "-m", "app.cli", "org", "create", "Test"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stdout + created.stderr
        assert "from the running `kassa run`" in created.stderr, created.stderr
        tokens = [line.split(":", 1)[1].strip() for line in created.stdout.splitlines() if line.startswith("access token:")]
        assert len(tokens) == 1 and tokens[0], created.stdout

        # 4. The token works against the running API.
        response = httpx.post(
            f"{base}/graphql",
            json={"query": "{ organization { id name } }"},
            headers={"Authorization": f"Bearer {tokens[0]}"},
            timeout=10,
        )
        assert response.is_success, response.text  # status code itself is app/server.py's business
        body = response.json()
        assert body.get("errors") is None, body
        assert body["data"]["organization"]["name"] == "Test"
        assert body["data"]["organization"]["id"]

        # 5. With no STRIPE_SECRET_KEY, Stripe is the sandbox (localstripe): a payment there is
        #    signed and sent to the API's Stripe webhook, which stores it and has it processed.
        sandbox_lines = [line for line in output().splitlines() if line.startswith("  Stripe       sandbox: localstripe on ")]
        assert len(sandbox_lines) == 1, output()
        api_base = sandbox_lines[0].split(" on ")[1].split()[0]
        import stripe

        client = stripe.StripeClient("sk_test_kassa_sandbox", base_addresses={"api": api_base}, max_network_retries=0)
        customer = client.v1.customers.create(params={"email": "ann@example.com"})
        method = client.v1.payment_methods.create(
            params={"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}}
        )
        client.v1.payment_methods.attach(method.id, params={"customer": customer.id})
        intent = client.v1.payment_intents.create(
            params={"amount": 1999, "currency": "usd", "customer": customer.id, "payment_method": method.id, "confirm": True}
        )
        assert intent.status == "succeeded"
        deadline = time.monotonic() + 30
        while ":stripe.process_event ●" not in output():  # arq's line for a finished job: the event was stored and processed
            assert time.monotonic() < deadline, f"the sandbox's event did not reach the API and the worker:\n{output()}"
            time.sleep(0.25)
    finally:
        # 6. SIGTERM stops everything: children, embedded PostgreSQL and Redis, services.json.
        if supervisor.poll() is None:
            supervisor.send_signal(signal.SIGTERM)
        try:
            returncode = supervisor.wait(60)
        except subprocess.TimeoutExpired:
            supervisor.kill()
            supervisor.wait()
            returncode = None
        log.close()
        deadline = time.monotonic() + 5
        leftovers = _server_processes(data_dir)
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.1)
            leftovers = _server_processes(data_dir)
        services_file_left = (data_dir / "services.json").exists()
        text = log_path.read_text() if log_path.exists() else ""
        for proc in _processes_using(data_dir):  # never leave servers behind, even on failure
            try:
                proc.kill()
            except psutil.Error:
                pass
        shutil.rmtree(data_dir, ignore_errors=True)

    assert returncode == 0, f"kassa run exited with {returncode}:\n{text}"
    assert leftovers == [], f"processes left running: {leftovers}\n{text}"
    assert not services_file_left, "services.json was not removed"


# -- fast checks of the resolution rules (no servers started) -----------------------------------


def _settings(tmp_dir: Path, **overrides):
    from dataclasses import replace

    from app.config import Settings

    base = replace(
        Settings(),
        data_dir=tmp_dir,
        local_postgres="127.0.0.1:1",
        local_redis="127.0.0.1:1",
    )
    return replace(base, **overrides)


def test_urls_from_settings_win(tmp_path: Path) -> None:
    from app.platform.services import resolve_services

    resolved = resolve_services(
        _settings(tmp_path, database_url="postgresql://u@db/x", redis_url="redis://r:6380/1"), allow_embedded=False
    )
    assert (resolved.database_url, resolved.redis_url, resolved.embedded) == (
        "postgresql://u@db/x",
        "redis://r:6380/1",
        None,
    )


def test_nothing_available_without_embedding_exits(tmp_path: Path) -> None:
    import pytest

    from app.platform.services import resolve_services

    with pytest.raises(SystemExit, match="no PostgreSQL"):
        resolve_services(_settings(tmp_path, redis_url="redis://r/0"), allow_embedded=False)


def test_services_file_is_honoured_only_while_its_process_lives(tmp_path: Path) -> None:
    import json

    import pytest

    from app.platform.services import remove_services_file, resolve_services, write_services_file

    settings = _settings(tmp_path)
    write_services_file(settings, database_url="postgresql://p@/kassa?host=/s", redis_url="unix:///s/redis.sock?db=0")
    resolved = resolve_services(settings, allow_embedded=False)
    assert resolved.database_url == "postgresql://p@/kassa?host=/s"
    assert resolved.redis_url == "unix:///s/redis.sock?db=0"

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "services.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "pid": dead.pid, "create_time": None}))
    with pytest.raises(SystemExit):
        resolve_services(settings, allow_embedded=False)
    remove_services_file(settings)  # not ours any more: left alone
    assert path.exists()


def test_redis_settings_from_url() -> None:
    from app.platform.services import redis_settings_from_url

    default = redis_settings_from_url(None)
    assert (default.host, default.port, default.database) == ("localhost", 6379, 0)
    tcp = redis_settings_from_url("redis://:p%40ss@cache:6380/2")
    assert (tcp.host, tcp.port, tcp.database, tcp.password, tcp.ssl) == ("cache", 6380, 2, "p@ss", False)
    tls = redis_settings_from_url("rediss://u:pw@cache/3")
    assert (tls.ssl, tls.username, tls.database) == (True, "u", 3)
    unix = redis_settings_from_url("unix:///data/redis/redis.sock?db=4")
    assert (unix.unix_socket_path, unix.database) == ("/data/redis/redis.sock", 4)
