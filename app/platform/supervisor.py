"""`kassa run` (and so `make run`): services, migrations, then the API and a worker as children.

The API runs in a child process because uvicorn re-raises SIGTERM after its shutdown (code after
`uvicorn.run()` and atexit hooks never run there); the supervisor handles SIGINT/SIGTERM/SIGHUP
itself. A child that exits on its own (a crash, an out-of-memory kill) is started again after a
delay that doubles with each quick failure (1 s, 2 s, 4 s ... at most 30 s; back to 1 s once a
child has run for a minute), each restart logged. A signal to the supervisor (Ctrl+C, SIGTERM)
stops everything: it terminates the children (SIGTERM, up to 10 s, then SIGKILL), stops the
embedded servers it started and removes `data_dir/services.json`.

On a database without organizations it creates one (`KASSA_FIRST_ORGANIZATION`, "My organization"
by default) after migrating and prints its access token once, in the banner.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from app.config import PROJECT_ROOT
from app.kit.backoff import backoff_delay

if TYPE_CHECKING:
    from app.config import Settings

CHILD_STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.2
RESTART_FIRST_DELAY = 1.0  # seconds before restarting a child that exited
RESTART_MAX_DELAY = 30.0
RESTART_STABLE_AFTER = 60.0  # a child that ran this long starts the delays over


class _Stop(Exception):
    """Raised by a second signal while starting up (the first only sets a flag)."""


class _Signals:
    def __init__(self) -> None:
        self.received: int | None = None
        self.count = 0
        self.raise_on_repeat = True
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum, _frame) -> None:
        self.count += 1
        if self.received is None:
            self.received = signum
            _say(f"received {signal.Signals(signum).name}, shutting down")
        elif self.raise_on_repeat:
            raise _Stop()


def _say(message: str) -> None:
    print(f"kassa: {message}", file=sys.stderr, flush=True)


def _port_open(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in {"0.0.0.0", ""} else ("::1" if host == "::" else host)
    try:
        with socket.create_connection((target, port), timeout=0.2):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child, before exec (Linux): get SIGTERM if the supervisor dies, even by SIGKILL."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort only
        pass


def _spawn(command: str | list[str], env: dict[str, str]) -> subprocess.Popen:
    argv = [sys.executable, "-m", "app.cli", command] if isinstance(command, str) else command
    return subprocess.Popen(
        argv,
        env=env,
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        # Own process group: Ctrl+C reaches only the supervisor, which stops the children in order
        # (otherwise a child still importing dies with a KeyboardInterrupt traceback).
        process_group=0,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )


@dataclass
class Child:
    """A child process the supervisor keeps running: `command` is a `kassa` subcommand or an argv."""

    name: str
    command: str | list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    quick_failures: int = 0
    restart_at: float | None = None
    restarts: int = 0

    def start(self) -> None:
        self.process = _spawn(self.command, self.env)
        self.started_at = time.monotonic()
        self.restart_at = None


def restart_delay(quick_failures: int) -> float:
    return backoff_delay(quick_failures, first=RESTART_FIRST_DELAY, cap=RESTART_MAX_DELAY, jitter=0)


def watch(children: list[Child], should_stop: Callable[[], bool], on_tick: Callable[[], None] | None = None) -> None:
    """Until `should_stop()`: restart any child that exited, after its backoff delay."""
    while not should_stop():
        now = time.monotonic()
        for child in children:
            if child.process is not None and child.process.poll() is not None:
                ran = now - child.started_at
                child.quick_failures = 1 if ran >= RESTART_STABLE_AFTER else child.quick_failures + 1
                delay = restart_delay(child.quick_failures)
                _say(f"{child.name} exited with code {child.process.returncode} after {ran:.1f} s; restarting it in {delay:.0f} s")
                child.process, child.restart_at = None, now + delay
            elif child.process is None and child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                child.start()
                _say(f"{child.name} restarted (restart {child.restarts})")
        if on_tick is not None:
            on_tick()
        time.sleep(POLL_INTERVAL)


def _terminate(children: list[Child]) -> None:
    alive = [(child.name, child.process) for child in children if child.process is not None and child.process.poll() is None]
    for _name, child in alive:
        try:
            child.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + CHILD_STOP_TIMEOUT
    for name, child in alive:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"{name} did not stop within {CHILD_STOP_TIMEOUT:.0f} s; killing it")
            child.kill()
            child.wait()


@dataclass(frozen=True)
class FirstOrganization:
    """The organization `kassa run` created on an empty database, with its token (shown once)."""

    id: uuid.UUID
    name: str
    token: str


def first_run_organization(database_url: str, name: str) -> FirstOrganization | None:
    """On a migrated database without organizations, create one and its first token; else None."""
    from app.kit.db import create_engine, create_session_factory
    from app.organizations.service import create_first_organization
    from app.platform.services import run_sync

    async def main() -> FirstOrganization | None:
        engine = create_engine(database_url, pool_size=1)
        try:
            async with create_session_factory(engine)() as session:
                created = await create_first_organization(session, name)
                await session.commit()
        finally:
            await engine.dispose()
        if created is None:
            return None
        organization, _token, plain = created
        return FirstOrganization(id=organization.id, name=organization.name, token=plain)

    return run_sync(main)


def kassa_command() -> str:
    """How to type `kassa` here: `kassa` if the PATH finds this one, else its path in the venv."""
    script = Path(sys.executable).parent / "kassa"
    if not script.exists():
        return "kassa"
    found = shutil.which("kassa")
    if found and Path(found).resolve() == script.resolve():
        return "kassa"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


@dataclass
class StripeSandbox:
    """localstripe as Stripe when no STRIPE_SECRET_KEY is set (app/platform/stripe_sandbox.py): a
    child like the API, its state in KASSA_DATA_DIR, its events sent to the API's Stripe webhook."""

    api_base: str
    webhook_url: str
    secret: str
    child: Child
    registered_for: subprocess.Popen | None = None

    @classmethod
    def plan(cls, settings: "Settings", env: dict[str, str]) -> "StripeSandbox":
        from app.platform.stripe_sandbox import SANDBOX_SECRET_KEY

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        api_base = f"http://127.0.0.1:{port}"
        secret = settings.stripe_webhook_secret or f"whsec_sandbox_{uuid.uuid4().hex}"
        shown = "127.0.0.1" if settings.host in {"0.0.0.0", ""} else settings.host
        env.update(STRIPE_SECRET_KEY=SANDBOX_SECRET_KEY, STRIPE_API_BASE=api_base, STRIPE_WEBHOOK_SECRET=secret)
        state = Path(settings.data_dir) / "localstripe.pickle"
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "app.platform.stripe_sandbox", "--port", str(port), "--state", str(state)]
        return cls(api_base, f"http://{shown}:{settings.port}/v1/integrations/stripe/webhook", secret, Child("Stripe sandbox", argv, env))

    def keep_webhook_registered(self) -> None:
        """The sandbox holds its webhook in memory: register it once it answers, and again after
        each restart."""
        from app.platform.stripe_sandbox import register_webhook

        process = self.child.process
        if process is not None and process is not self.registered_for and register_webhook(self.api_base, self.webhook_url, self.secret):
            self.registered_for = process


def _banner(settings: "Settings", resolved, first: FirstOrganization | None = None, sandbox: StripeSandbox | None = None) -> str:
    host = settings.host
    shown = "127.0.0.1" if host in {"0.0.0.0", ""} else host
    base = f"http://{shown}:{settings.port}"
    kassa = kassa_command()
    if first is not None:
        token_lines = [
            f"  organization {first.name} ({first.id}), created now",
            f"  access token {first.token}",
            "               shown only this once (Kassa keeps its hash): copy it now;",
            "               send it as `Authorization: Bearer <token>`",
            f"  more tokens  {kassa} token create {first.id}",
            f"               {kassa} org create NAME   (another organization)",
        ]
    else:
        token_lines = [
            f"  access token `{kassa} org create NAME` (in another terminal) creates an organization",
            f"               and prints its token; `{kassa} token create ORG_ID` another one",
            f"               (`{kassa} org list` shows the ids);",
            "               send it as `Authorization: Bearer <token>`",
        ]
    return "\n".join(
        [
            "",
            "Kassa is running",
            f"  GraphQL API  {base}/graphql",
            f"  health       {base}/health",
            f"  PostgreSQL   {resolved.postgres_source}",
            f"  Redis        {resolved.redis_source}",
            *(
                [
                    f"  Stripe       sandbox: localstripe on {sandbox.api_base} (no STRIPE_SECRET_KEY); test cards",
                    "               4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined",
                ]
                if sandbox is not None
                else ["  Stripe       STRIPE_SECRET_KEY"]
            ),
            *token_lines,
            "  stop         Ctrl+C",
            "",
        ]
    )


def supervise(settings: "Settings") -> int:
    """Run Kassa until a signal arrives (children that exit are restarted); returns the exit code."""
    from app.platform.migrations import run_migrations
    from app.platform.services import remove_services_file, resolve_services, write_services_file

    signals = _Signals()
    signals.install()
    resolved = None
    wrote_file = False
    children: list[Child] = []
    try:
        started = time.monotonic()
        try:
            resolved = resolve_services(settings, allow_embedded=True)
        except _Stop:
            raise
        except Exception as exc:  # noqa: BLE001 - one line, not a traceback
            _say(f"could not start PostgreSQL/Redis: {type(exc).__name__}: {exc}")
            return 1
        if resolved.embedded is not None:
            timings = ", ".join(f"{k} {v:.1f} s" for k, v in resolved.embedded.timings.items())
            _say(f"embedded services started in {settings.data_dir} ({timings})")
        _say(f"PostgreSQL: {resolved.postgres_source}; Redis: {resolved.redis_source}")
        if signals.received is not None:
            return 0

        began = time.monotonic()
        try:
            run_migrations(resolved.database_url)
        except _Stop:
            raise
        except Exception as exc:  # noqa: BLE001 - report in one line, clean up below
            _say(f"migrations failed: {type(exc).__name__}: {exc}")
            return 1
        _say(f"database migrated in {time.monotonic() - began:.1f} s")
        if signals.received is not None:
            return 0

        first = None
        if settings.first_organization_name:
            try:
                first = first_run_organization(resolved.database_url, settings.first_organization_name)
            except _Stop:
                raise
            except Exception as exc:  # noqa: BLE001 - the API is still useful without it
                _say(f"could not create the first organization: {type(exc).__name__}: {exc}")
            if first is not None:
                _say(f"no organization yet: created {first.name!r}; its access token is in the banner below")

        if resolved.published_by is None:  # not another running supervisor's services: publish ours
            write_services_file(settings, database_url=resolved.database_url, redis_url=resolved.redis_url)
            wrote_file = True

        env = dict(os.environ)
        env["DATABASE_URL"] = resolved.database_url
        env["REDIS_URL"] = resolved.redis_url
        env["KASSA_HOST"] = settings.host
        env["KASSA_PORT"] = str(settings.port)
        env.setdefault("PYTHONUNBUFFERED", "1")
        signals.raise_on_repeat = False  # from here on, the loop below handles every signal
        sandbox = None if settings.stripe_secret_key else StripeSandbox.plan(settings, env)
        if sandbox is not None:
            children.append(sandbox.child)
        children.extend([Child("API server", "serve", env), Child("worker", "worker", env)])
        for child in children:
            child.start()

        announced = False

        def announce() -> None:
            nonlocal announced
            if sandbox is not None:
                sandbox.keep_webhook_registered()
            if not announced and _port_open(settings.host, settings.port):
                announced = True
                print(_banner(settings, resolved, first, sandbox), flush=True)
                _say(f"ready in {time.monotonic() - started:.1f} s")

        watch(children, lambda: signals.received is not None, announce)
        return 0
    except (_Stop, KeyboardInterrupt):
        return 0  # a requested shutdown is a clean exit
    finally:
        signals.raise_on_repeat = False
        try:
            _terminate(children)
        finally:
            try:
                if resolved is not None and resolved.embedded is not None:
                    resolved.stop()
                    _say("embedded services stopped")
            finally:
                if wrote_file:
                    remove_services_file(settings)
                signals.restore()
