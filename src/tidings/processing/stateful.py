"""The state half of a handler: event states of the owned partitions, restored on assignment,
plus what the open transaction wrote (visible to the handler, applied only on commit)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.kafka.records import RawRecord
from tidings.processing.deadletter import dead_letter
from tidings.processing.loop import Consumed
from tidings.processing.outbox import Outbox
from tidings.processing.restore import StateTail, processing_states
from tidings.processing.writes import PendingStates, Writes
from tidings.settings import Settings


class StatefulHandler:
    stage = "handle"  # the per-record span's name; each service names its own

    def __init__(self, settings: Settings, codec: Codec, service: str) -> None:
        self._topics = Topics(settings)
        self._codec = codec
        self._writes = Writes(self._topics, codec)
        self.states = processing_states(settings, codec, service)
        suffix = f"{service}-{settings.processing.instance_id}"
        self._tail = StateTail(settings, codec, suffix, self.states)
        self._pending = PendingStates()
        # After an abort: the transaction may have committed after all (its answer lost), so
        # its states are read back before the next decision (``_current``).
        self._unsure = False
        # Input topic -> the record it carries, for the default ``decode``.
        self._records: dict[str, str] = {}

    def on_assign(self, partitions: list[int]) -> None:
        self._tail.assign(partitions)  # revoked partitions' stores close, new ones restore

    def on_commit(self) -> None:
        self.states.apply_committed(self._pending)
        self._pending.clear()
        self._tail.follow()  # keeps the checkpoints near the end (bounded restarts)

    def on_abort(self) -> None:
        self._pending.clear()
        self._unsure = True

    def _current(
        self, tenant: str, event_id: str, replay_id: str | None = None
    ) -> dict[str, Any] | None:
        """The newest state of one processing: this transaction's writes first, then committed.
        After an abort, the owned state partitions are first read to their end: a batch redone
        after a commit of unknown outcome then finds its own states and writes nothing twice
        (raising ``Unavailable`` aborts this transaction too, and it is tried again)."""
        if self._unsure:
            self._tail.catch_up()
            self._unsure = False
        pending = self._pending.latest.get((tenant, event_id, replay_id or ""))
        if pending is not None:
            return pending
        return self.states.get(self._writes.partition_of(tenant), tenant, event_id, replay_id)

    def undecodable(self, raw: RawRecord, error: Exception, out: Outbox) -> None:
        """A record that is not what its topic carries: dead-lettered, never retried."""
        name = self._records.get(raw.topic, "record")
        record = dead_letter(
            raw,
            outcome="rejected",
            error_class="corrupt_record",
            detail=f"not a {name} record",
            event_id=None,
            tenant=None,
        )
        self._writes.dead_letter(out, record)

    def decode(self, raw: RawRecord) -> Any:
        """The record its topic carries (``_records``: topic -> record name), decoded."""
        return self._codec.decode(raw.value or b"", expect=self._records[raw.topic])[1]

    def trace_headers(self, consumed: Consumed) -> Iterable[tuple[str, bytes]]:
        return consumed.raw.headers

    def close(self) -> None:
        self._tail.close()
