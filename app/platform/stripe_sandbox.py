"""The Stripe sandbox: localstripe (a Stripe-compatible server from PyPI) for `kassa run` when no
`STRIPE_SECRET_KEY` is set, and for the tests.

`python -m app.platform.stripe_sandbox --port N [--state FILE]` runs localstripe on
127.0.0.1 only (localstripe itself listens on every interface) and keeps its state in FILE (in
`KASSA_DATA_DIR`, so the sandbox's customers and cards survive a restart of `kassa run`), or in
memory without `--state` (localstripe would otherwise share one file in /tmp between every copy).
`register_webhook` points the sandbox's events (`payment_intent.*`, signed like Stripe's) at
Kassa's `POST /v1/integrations/stripe/webhook`.
"""

from __future__ import annotations

import argparse
import pickle
import socket
from pathlib import Path

import httpx

SANDBOX_SECRET_KEY = "sk_test_kassa_sandbox"


def serve(port: int, state_file: Path | None) -> None:
    from aiohttp import web
    from localstripe import resources, server

    def load(store) -> None:
        if state_file is not None and state_file.exists():
            with open(state_file, "rb") as f:
                store.clear()
                store.update(pickle.load(f))

    def dump(store) -> None:
        if state_file is not None:
            temporary = state_file.with_suffix(".tmp")
            with open(temporary, "wb") as f:
                pickle.dump(dict(store), f, protocol=pickle.HIGHEST_PROTOCOL)
            temporary.replace(state_file)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump
    resources.store.try_load_from_disk()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    web.run_app(server.app, sock=sock, access_log=None, print=None)


def register_webhook(api_base: str, url: str, secret: str) -> bool:
    """Have the sandbox send its events to `url`, signed with `secret` (held in its memory: again
    after each restart). False while it does not answer yet."""
    try:
        response = httpx.post(f"{api_base}/_config/webhooks/kassa", data={"url": url, "secret": secret}, timeout=2)
    except httpx.HTTPError:
        return False
    return response.is_success


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, default=None)
    args = parser.parse_args()
    serve(args.port, args.state)


if __name__ == "__main__":
    main()
