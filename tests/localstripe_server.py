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


STRIPE_KEY = "sk_test_kassa"  # localstripe takes any secret key


def stripe_processor(server: LocalStripe):
    """Kassa's Stripe processor on `server`, through the official SDK (as with Stripe itself)."""
    from app.payments.processors import processor_for
    from app.payments.stripe_processor import StripeProcessor

    processor = processor_for("stripe", stripe_secret_key=STRIPE_KEY, stripe_api_base=server.url)
    assert isinstance(processor, StripeProcessor)
    return processor


async def card(server: LocalStripe, number: str = "4242424242424242") -> str:
    """What Stripe.js hands the browser for a test card: a payment method id."""
    method = await stripe_processor(server).client.v1.payment_methods.create_async(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"}}
    )
    return method.id
