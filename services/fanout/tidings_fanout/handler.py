"""Per-chunk decisions of the fan-out: skip what is already done, else write the chunk's
delivery requests and the event's progress in the same transaction.

Chunks of one event share a partition (explicit tenant partition) and arrive in order, so
progress is one number per event (``chunks_done``, carried in the state ``seq``), restored
from the state topic on assignment. A chunk below it is a duplicate and writes nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from tidings import tracing
from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.state import TERMINAL, Stage, chunks_done, now_ms, state_record
from tidings.contracts.topics import user_key
from tidings.kafka.records import RawRecord
from tidings.logs import get_logger
from tidings.processing.loop import Consumed
from tidings.processing.outbox import Outbox
from tidings.processing.stateful import StatefulHandler
from tidings.settings import Settings
from tidings_fanout.deliveries import delivery_requests

log = get_logger(__name__)


class FanoutHandler(StatefulHandler):
    stage = "fanout"

    def __init__(self, settings: Settings, codec: Codec) -> None:
        super().__init__(settings, codec, "fanout")
        self._records = {self._topics.resolved.name: "resolved_chunk"}

    def handle(self, consumed: Consumed, out: Outbox) -> None:
        chunk, msg = consumed.record, consumed.raw
        tenant, event_id, index = chunk["tenant"], chunk["event_id"], chunk["chunk"]
        bound = log.bind(event_id=event_id, tenant=tenant, chunk=index)
        current = self._current(tenant, event_id, chunk.get("replay_id"))
        done, counts = 0, Counter[str]()
        if current is not None:
            if current["stage"] in TERMINAL:
                bound.info("chunk_duplicate", stage=current["stage"])
                return
            if current["stage"] == Stage.RESOLVED:
                done = chunks_done(current)
                counts.update(current.get("deliveries") or {})
        if index < done:
            bound.info("chunk_duplicate", chunks_done=done)
            return
        headers = h.to_list({h.EVENT_ID: event_id, h.TENANT: tenant, h.EVENT_TYPE: chunk["type"]})
        if tracing.ENABLED:  # a sender continues this trace (the fanout span is current)
            tracing.inject(headers)
        # One time for the chunk's requests and the state they lead to: a rebuild from the
        # deliveries then reproduces the state record exactly.
        now = now_ms()
        for request in delivery_requests(chunk, now):
            spec = self._topics.deliveries.get(request["channel"])
            if spec is None:
                bound.warning("channel_not_configured", channel=request["channel"])
                continue
            out.produce(
                spec.name,
                user_key(tenant, request["user_id"]),
                self._codec.encode("delivery", request, validate=False),  # from a decoded chunk
                headers,
            )
            counts[request["channel"]] += 1
        self._progress(msg, out, chunk, index + 1, counts, now)

    def _progress(
        self,
        msg: RawRecord,
        out: Outbox,
        chunk: dict[str, Any],
        done: int,
        counts: Counter[str],
        at: int,
    ) -> None:
        summary = orjson.loads(h.to_dict(msg.headers).get(h.RESOLUTION) or b"{}")
        # A chunk of a slice that more slices follow never ends the event: its ``chunks`` is
        # only what the resolver has written so far (docs/processing.md, Fair sharing).
        final = chunk.get("final", True)
        last = final and done >= chunk["chunks"]
        record = state_record(
            chunk["event_id"],
            chunk["tenant"],
            Stage.DISPATCHED if last else Stage.RESOLVED,
            chunks_done=done,
            type_=chunk["type"],
            recipients=summary.get("recipients"),
            chunks=chunk["chunks"],
            deliveries=dict(counts),
            skipped=summary.get("skipped"),
            directory_offset=summary.get("directory_offset"),
            replay_id=chunk.get("replay_id"),
            accepted_at=summary.get("accepted_at"),
            history=summary.get("history") or [],
            client_id=summary.get("client_id"),
            source_reference=summary.get("source_reference"),
            fingerprint=summary.get("fingerprint"),
            detail=None if final else "the audience is still being resolved in slices",
            at=at,
        )
        self._writes.state(out, record, self._pending)
        if last:
            if msg.timestamp:
                out.latencies.append(max(0.0, (now_ms() - msg.timestamp) / 1000))
            log.debug(
                "event_dispatched",
                event_id=chunk["event_id"],
                tenant=chunk["tenant"],
                deliveries=dict(counts),
                chunks=chunk["chunks"],
            )
