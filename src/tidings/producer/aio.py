"""``AsyncNotificationProducer``: the same path for asyncio programs.

It rides on ``tidings.kafka.producer.AsyncProducer``: librdkafka's delivery callbacks run on
its poll thread and reach the event loop only through ``call_soon_threadsafe``, so many
``send`` calls in flight share one batch and no callback ever touches a future directly.
Sends gathered within ``batch_linger_ms`` (or ``batch_size`` of them) share one signature
over their Merkle root; signing runs on the event loop, which owns the pending batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from tidings.errors import TidingsError
from tidings.kafka.producer import AsyncProducer
from tidings.producer.acks import Ack
from tidings.producer.base import PreparingProducer, Request
from tidings.producer.prepare import PreparedEvent
from tidings.settings import Settings


class AsyncNotificationProducer(PreparingProducer):
    """``await send(request)`` validates, signs, writes and returns the event's ``Ack``."""

    def _open(self, settings: Settings, client_suffix: str, overrides: dict[str, Any]) -> None:
        self._producer = AsyncProducer(settings, client_suffix, **overrides)
        self._pending: list[tuple[PreparedEvent, asyncio.Future[PreparedEvent]]] = []
        self._timer: asyncio.TimerHandle | None = None

    async def send(self, request: Request, *, idempotency_key: str | None = None) -> Ack:
        """Raises for a request the endpoint would refuse; otherwise the broker's answer."""
        return await self.send_prepared(self.preparer.encode(request, idempotency_key))

    async def send_prepared(self, event: PreparedEvent) -> Ack:
        """Write an event from ``preparer.encode`` (signed with the sends gathered with it) or
        from ``prepare`` (already signed)."""
        if not event.signed:
            event = await self._join_batch(event)
        return await self._write(event)

    async def _write(self, event: PreparedEvent) -> Ack:
        try:
            msg = await self._producer.produce(self.topic, event.key, event.value, event.headers)
        except TidingsError as exc:  # translated broker error, or local queue full
            return Ack(event.event_id, error=exc)
        return Ack(event.event_id, msg.partition(), msg.offset())

    def _join_batch(self, event: PreparedEvent) -> asyncio.Future[PreparedEvent]:
        loop = asyncio.get_running_loop()
        signed: asyncio.Future[PreparedEvent] = loop.create_future()
        self._pending.append((event, signed))
        if len(self._pending) >= self.batch_size:
            self._seal()
        elif self._timer is None:
            self._timer = loop.call_later(self.batch_linger_s, self._seal)
        return signed

    def _seal(self) -> None:
        """Sign the gathered events as one batch and wake their sends."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            signed = self.preparer.sign([event for event, _ in batch])
        except Exception as exc:  # every send waiting on this batch raises it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), event in zip(batch, signed, strict=True):
            if not future.done():  # a cancelled send leaves a cancelled future
                future.set_result(event)

    async def send_many(self, requests: Iterable[tuple[Request, str | None]]) -> list[Ack]:
        """Validate all first (raising on the first bad one), sign them in batches, then
        write them concurrently."""
        encoded = [self.preparer.encode(request, key) for request, key in requests]
        size = self.batch_size
        signed = [
            e
            for i in range(0, len(encoded), size)
            for e in self.preparer.sign(encoded[i : i + size])
        ]
        return list(await asyncio.gather(*(self._write(e) for e in signed)))

    async def close(self, timeout_s: float = 30.0) -> None:
        self._seal()
        await asyncio.sleep(0)  # the woken sends hand their records to librdkafka first
        # flush blocks in librdkafka: keep the loop free while it waits.
        await asyncio.to_thread(self._producer.close, timeout_s)
        self._stop_registry()

    async def __aenter__(self) -> AsyncNotificationProducer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
