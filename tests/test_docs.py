"""The docs cannot drift: every link between the pages resolves, and the README's first calls run
against a real server (`kassa serve` on a free port, the test database) with the answers shown."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.config import PROJECT_ROOT
from tests.conftest import make_org
from tests.redis_server import free_port

PAGES = [PROJECT_ROOT / "README.md", PROJECT_ROOT / "CONTRIBUTING.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]


def _slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    title = re.sub(r"[`*]", "", title.strip().lower())
    return re.sub(r"[^\w\- ]", "", title).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    anchors, in_code = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"#{1,6} ", line):
            anchors.add(_slug(line.lstrip("#")))
    return anchors


def test_every_link_between_the_pages_resolves():
    broken = []
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not ours to check
            path, _, anchor = target.partition("#")
            destination = (page.parent / path).resolve() if path else page
            if not destination.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


def test_the_readme_stays_a_landing_page():
    assert len((PROJECT_ROOT / "README.md").read_text().splitlines()) < 400


# -- the README's first calls, run for real ----------------------------------------------------


def _first_calls() -> list[tuple[str, str]]:
    """(shell command, the JSON answer shown after it) of every curl call under 'First calls'."""
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text[text.index("## First calls with curl") :]
    section = section[: section.index("\n## ", 10)]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)
    calls = []
    for (kind, body), following in zip(blocks, blocks[1:] + [("", "")]):
        if kind == "sh" and "curl" in body:
            assert following[0] == "json", f"a curl call without its answer: {body[:80]}"
            calls.append((body, following[1]))
    return calls


def _is_global_id(value: str) -> bool:
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode()
    except Exception:  # noqa: BLE001 - not base64: not an id
        return False
    return re.fullmatch(r"[A-Za-z]+:[0-9a-f-]{36}", decoded) is not None


def _normalized(value):
    """Ids, cursors and times differ on every machine: compare their shape only."""
    if isinstance(value, dict):
        return {k: "<cursor>" if k.endswith("Cursor") and isinstance(v, str) else _normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    if isinstance(value, str):
        if _is_global_id(value):
            return "<id>"
        if re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?", value):
            return "<time>"
    return value


def _serve(services, **extra_env: str):
    """`kassa serve` on a free port, on the test database (committed data, as `live` has)."""
    test_services, _ = services
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": test_services.database_url,
        "REDIS_URL": test_services.redis_url,
        "KASSA_PORT": str(port),
        "KASSA_HEALTH_WORKER_STALE": "0",
        **extra_env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"], env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise AssertionError(f"kassa serve exited: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)
    else:
        process.kill()
        raise AssertionError("kassa serve did not answer /health within 30 s")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def server(live, services):
    yield from _serve(services)


@pytest.fixture
def stripe_server(live, services, localstripe):
    """`kassa serve` with Stripe: the sandbox's key and localstripe's address, as `make run` sets them."""
    from app.platform.stripe_sandbox import SANDBOX_SECRET_KEY

    yield from _serve(services, STRIPE_SECRET_KEY=SANDBOX_SECRET_KEY, STRIPE_API_BASE=localstripe.url)


async def test_the_readmes_first_calls_answer_as_shown(live, server):
    org = await make_org(live.session_factory, name="My Company")
    calls = _first_calls()
    assert len(calls) >= 5
    env = {**os.environ, "KASSA_URL": f"{server}/graphql", "KASSA_TOKEN": org.token}
    for command, shown in calls:
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, (command, done.stderr)
        assert _normalized(json.loads(done.stdout)) == _normalized(json.loads(shown)), command


def _script_of(title: str) -> tuple[str, str]:
    """The first shell script of a README section and the JSON answer shown after it."""
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text[text.index(title) :]
    section = section[: section.index("\n## ", 10)]
    return re.findall(r"```sh\n(.*?)```\s*```json\n(.*?)```", section, flags=re.S)[0]


async def test_the_readmes_payment_walkthrough_answers_as_shown(live, stripe_server, localstripe):
    """'Take a payment': the whole script, run as a merchant would paste it, against the server and
    the Stripe sandbox; its last answer is the one shown."""
    org = await make_org(live.session_factory, name="My Company")
    script, shown = _script_of("## Take a payment")
    env = {**os.environ, "KASSA_URL": f"{stripe_server}/graphql", "KASSA_TOKEN": org.token, "STRIPE_API_BASE": localstripe.url}
    done = subprocess.run(["bash", "-c", "set -e -o pipefail\n" + script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert _normalized(json.loads(done.stdout)) == _normalized(json.loads(shown))


async def test_the_readmes_subscription_script_answers_as_shown(live, stripe_server, localstripe):
    """'Subscriptions': its script continues the payment script (its `kassa` and `get`), so both
    run in one shell, the first one's answer set aside; the last answer is the one shown."""
    org = await make_org(live.session_factory, name="My Company")
    payment, _ = _script_of("## Take a payment")
    subscription, shown = _script_of("## Subscriptions")
    env = {**os.environ, "KASSA_URL": f"{stripe_server}/graphql", "KASSA_TOKEN": org.token, "STRIPE_API_BASE": localstripe.url}
    script = "set -e -o pipefail\n{\n" + payment + "} >/dev/null\n" + subscription
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert _normalized(json.loads(done.stdout)) == _normalized(json.loads(shown)), done.stdout


async def test_the_readmes_wallet_script_answers_as_shown(live, stripe_server, localstripe):
    """'Wallets': its script continues the payment script; it prints the check's answer, then the
    wallet after a hold captured for less than it held: both lines as shown."""
    org = await make_org(live.session_factory, name="My Company")
    payment, _ = _script_of("## Take a payment")
    wallet, shown = _script_of("## Wallets")
    env = {**os.environ, "KASSA_URL": f"{stripe_server}/graphql", "KASSA_TOKEN": org.token, "STRIPE_API_BASE": localstripe.url}
    script = "set -e -o pipefail\n{\n" + payment + "} >/dev/null\n" + wallet
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [_normalized(a) for a in answers] == [_normalized(json.loads(line)) for line in shown.splitlines() if line.strip()], done.stdout
