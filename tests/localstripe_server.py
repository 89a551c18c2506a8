"""localstripe (a stateful Stripe-compatible server from PyPI) on a free port, for the tests: the
official `stripe` SDK talks to it as to Stripe. Started through the sandbox's launcher
(app/platform/stripe_sandbox.py): its state lives in its process only."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.redis_server import free_port

START_TIMEOUT = 30.0


class LocalStripe:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="kassa-localstripe-", suffix=".log", delete=False)
        self.process: subprocess.Popen | None = None

    def start(self) -> "LocalStripe":
        self.process = subprocess.Popen(  # the sandbox's launcher: 127.0.0.1 only, state in memory
            [sys.executable, "-m", "app.platform.stripe_sandbox", "--port", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"localstripe exited with {self.process.returncode}: see {self.log.name}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"localstripe did not listen on {self.port} within {START_TIMEOUT:.0f}s: see {self.log.name}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
