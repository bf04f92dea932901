"""``AsyncNotificationProducer``: the same path for asyncio programs.

It rides on ``tidings.kafka.producer.AsyncProducer``: librdkafka's delivery callbacks run on
its poll thread and reach the event loop only through ``call_soon_threadsafe``, so many
``send`` calls in flight share one batch and no callback ever touches a future directly.
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

    async def send(self, request: Request, *, idempotency_key: str | None = None) -> Ack:
        """Raises for a request the endpoint would refuse; otherwise the broker's answer."""
        return await self.send_prepared(self.prepare(request, idempotency_key))

    async def send_prepared(self, event: PreparedEvent) -> Ack:
        try:
            msg = await self._producer.produce(self.topic, event.key, event.value, event.headers)
        except TidingsError as exc:  # translated broker error, or local queue full
            return Ack(event.event_id, error=exc)
        return Ack(event.event_id, msg.partition(), msg.offset())

    async def send_many(self, requests: Iterable[tuple[Request, str | None]]) -> list[Ack]:
        """Validate all first (raising on the first bad one), then write them concurrently."""
        prepared = [self.prepare(request, key) for request, key in requests]
        return list(await asyncio.gather(*(self.send_prepared(e) for e in prepared)))

    async def close(self, timeout_s: float = 30.0) -> None:
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
