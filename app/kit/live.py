"""Live updates through Redis pub/sub: a worker that changed a customer's state publishes a small
message on the customer's channel; every API process listening for that customer wakes its
clients, which read the current state again (with their own session, through the services).

A message says what changed, not the new state: `{"kind": "wallet", "currency": "usd"}` or
`{"kind": "meters"}`. Publishing is best effort and costs one PUBLISH: live updates are a
convenience beside the webhooks and the queries, so a lost message (Redis down) is logged, not
retried.

Each API process keeps one pub/sub connection (`LiveHub`), shared by all its clients: it
subscribes to a customer's channel while at least one client listens to it, and one reader task
hands each message to the listeners of its channel. A listener coalesces what arrives while its
client is busy, so a slow client gets the latest state, never a backlog.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from contextlib import asynccontextmanager, suppress
from typing import Any, AsyncIterator

from app.kit.backoff import backoff_delay

logger = logging.getLogger("kassa.live")

CHANNEL_PREFIX = "kassa:live:"
WALLET = "wallet"
METERS = "meters"


def channel_of(organization_id: uuid.UUID | str, customer_id: uuid.UUID | str) -> str:
    return f"{CHANNEL_PREFIX}{organization_id}:{customer_id}"


async def publish(redis: Any, organization_id: uuid.UUID | str, customer_id: uuid.UUID | str, kind: str, **fields: Any) -> None:
    """Tell the API processes that `kind` changed for the customer (after the change committed)."""
    try:
        await redis.publish(channel_of(organization_id, customer_id), json.dumps({"kind": kind, **fields}, separators=(",", ":")))
    except Exception as exc:  # noqa: BLE001 - best effort: the state stays readable by queries
        logger.warning("could not publish a live %s update (%s: %s)", kind, type(exc).__name__, exc)


class Listener:
    """One client's view of a channel: the messages that arrived since it last looked, by what
    they are about (the latest of each)."""

    def __init__(self) -> None:
        self._pending: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._ready = asyncio.Event()

    def deliver(self, message: dict[str, Any]) -> None:
        self._pending[(message.get("kind"), message.get("currency"))] = message
        self._ready.set()

    async def next(self) -> list[dict[str, Any]]:
        """Wait for messages; all that arrived since the last call."""
        await self._ready.wait()
        self._ready.clear()
        messages, self._pending = list(self._pending.values()), {}
        return messages


class LiveHub:
    """The process's one pub/sub connection, shared by its live clients."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._pubsub: Any = None
        self._listeners: dict[str, set[Listener]] = {}
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task | None = None
        self._closed = False

    @property
    def channels(self) -> list[str]:
        """The channels this process listens to now."""
        return sorted(self._listeners)

    @asynccontextmanager
    async def listen(self, organization_id: uuid.UUID, customer_id: uuid.UUID) -> AsyncIterator[Listener]:
        """A listener on the customer's channel while the block runs (subscribed when it
        returns: a change published after that reaches it)."""
        channel = channel_of(organization_id, customer_id)
        listener = Listener()
        async with self._lock:
            if self._closed:
                raise RuntimeError("the live hub is closed")
            if self._pubsub is None:
                self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            listeners = self._listeners.setdefault(channel, set())
            if not listeners:
                try:
                    await self._pubsub.subscribe(channel)
                except BaseException:
                    del self._listeners[channel]
                    raise
            listeners.add(listener)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read(), name="kassa-live-reader")
        try:
            yield listener
        finally:
            async with self._lock:
                listeners = self._listeners.get(channel)
                if listeners is not None:
                    listeners.discard(listener)
                    if not listeners:
                        del self._listeners[channel]
                        if self._pubsub is not None and not self._closed:
                            with suppress(Exception):
                                await self._pubsub.unsubscribe(channel)

    async def _read(self) -> None:
        failures = 0
        while not self._closed:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis away: try again (the pub/sub resubscribes on reconnect)
                failures += 1
                (logger.warning if failures == 1 else logger.info)("live updates: Redis unreachable (%s: %s)", type(exc).__name__, exc)
                await asyncio.sleep(backoff_delay(failures, first=0.5, cap=30.0))
                continue
            failures = 0
            if not message or message.get("type") != "message":
                continue
            channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
            try:
                data = json.loads(message["data"])
            except (TypeError, ValueError):
                continue
            for listener in list(self._listeners.get(channel, ())):
                listener.deliver(data)

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            if self._reader is not None:
                self._reader.cancel()
                with suppress(BaseException):
                    await self._reader
            if self._pubsub is not None:
                with suppress(Exception):
                    await self._pubsub.aclose()
            self._listeners.clear()
