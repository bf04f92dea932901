"""Per-record decisions of the resolver: reject, drop a duplicate, retry, fail or resolve.

Dedupe is by event id against the state of this instance's partitions (restored from the
state topic on assignment, plus what this instance committed since), so a redelivered or
doubly appended event never produces a second set of chunks.

A direct producer's record is also held to the endpoint's last two rules, which need state
or the directory: its Idempotency-Key (a key names one event, ``event_id_for``; that event's
state, which carries its request's fingerprint, is the key's first use, so the index is the
state store itself and survives restarts and rebalances) and its listed recipients (known in
its tenant and organization, as the directory says when it is processed). Records under the
ingest's MAC were checked by the ingest and cost nothing more here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.state import TERMINAL, UNPROVEN, Stage, now_ms, state_record
from tidings.contracts.topics import event_key
from tidings.domain.clients import ClientRegistry
from tidings.domain.directory import DirectoryReader
from tidings.domain.envelope import event_id_for, require_known_recipients
from tidings.domain.idempotency import require_key_owner
from tidings.domain.payload_schemas import PayloadSchemas
from tidings.errors import TidingsError
from tidings.kafka.records import RawRecord
from tidings.kafka.view import CompactedView
from tidings.logs import get_logger
from tidings.processing.deadletter import (
    attempt_entry,
    backoff_ms,
    dead_letter,
    retry_record,
)
from tidings.processing.loop import Consumed
from tidings.processing.outbox import Defer, Outbox
from tidings.processing.stateful import StatefulHandler
from tidings.settings import Settings
from tidings_resolver.inbound import InboundEvent, Invalid, detail_of, read_event
from tidings_resolver.output import event_state, history_until_now
from tidings_resolver.resolution import policy_for
from tidings_resolver.slices import Slicer, fanout_backlog

log = get_logger(__name__)
Original = tuple[bytes | None, bytes | None, dict[str, bytes]]


def _original(raw: RawRecord) -> Original:
    """Key, value and headers as the producer wrote them (kept whole in retries and DLQs)."""
    return raw.key, raw.value, h.to_dict(raw.headers)


class ResolverHandler(StatefulHandler):
    stage = "resolve"

    def __init__(
        self,
        settings: Settings,
        codec: Codec,
        directory: DirectoryReader,
        directory_view: CompactedView,
        clients: ClientRegistry,
        clients_view: CompactedView,
        schemas: PayloadSchemas,
    ) -> None:
        self._p = settings.processing
        self._hooks = settings.test_hooks
        self._key_window_ms = settings.topics.idempotency_window_ms
        super().__init__(settings, codec, "resolver")
        self._directory, self._directory_view = directory, directory_view
        self._clients, self._clients_view, self._schemas = clients, clients_view, schemas
        self._records = {self._topics.retry.name: "retry"}
        self._backlog = fanout_backlog(settings)  # paces the slices of a large audience
        self._slicer = Slicer(
            self._writes,
            codec,
            self._topics.retry.name,
            directory,
            chunk_size=self._p.chunk_size,
            slice_size=self._p.resolve_slice_size,
            pending=self._pending,
            backlog=self._backlog,
            backlog_limit=self._p.resolve_slice_backlog,
        )

    def close(self) -> None:
        self._slicer.close()
        self._backlog.close()
        super().close()

    def decode(self, raw: RawRecord) -> Any:
        """A retry record, or an event proven and checked (``Invalid`` when it is not)."""
        if raw.topic == self._topics.retry.name:
            return super().decode(raw)
        return self._read(_original(raw))

    def undecodable(self, raw: RawRecord, error: Exception, out: Outbox) -> None:
        if isinstance(error, Invalid):
            self._reject(raw, out, error, _original(raw), [])
        else:
            super().undecodable(raw, error, out)

    def handle(self, consumed: Consumed, out: Outbox) -> None:
        msg = consumed.raw
        if msg.topic == self._topics.retry.name:
            self._handle_retry(msg, consumed.record, out)
            return
        self._handle(msg, out, _original(msg), consumed.record, attempt=1, past=[])

    def trace_headers(self, consumed: Consumed) -> Iterable[tuple[str, bytes]]:
        """A retry continues the trace of the event it carries (its original headers)."""
        if consumed.raw.topic == self._topics.retry.name:
            return dict(consumed.record["original_headers"]).items()
        return consumed.raw.headers

    def _read(self, original: Original) -> InboundEvent:
        key, value, headers = original
        return read_event(
            key,
            value,
            headers,
            self._codec,
            self._clients,
            self._schemas,
            lambda: self._tail.catch_up_view(self._clients_view),
        )

    # -- the paths ----------------------------------------------------------------------------
    def _handle(
        self,
        msg: RawRecord,
        out: Outbox,
        original: Original,
        inbound: InboundEvent,
        attempt: int,
        past: list[dict[str, Any]],
    ) -> None:
        if attempt == 1 and msg.partition != self._writes.partition_of(inbound.tenant):
            inv = Invalid(
                "wrong_partition",
                "not in its tenant's partition (use murmur2)",
                inbound.event_id,
                inbound.tenant,
            )
            self._reject(msg, out, inv, original, past)
            return
        bound = log.bind(event_id=inbound.event_id, tenant=inbound.tenant, attempt=attempt)
        replay_id = inbound.event.get("replay_id")
        current = self._current(inbound.tenant, inbound.event_id, replay_id)
        if current is not None and current["seq"] == UNPROVEN:
            current = None  # a forger's rejection under this id does not make this one done
        if attempt == 1 and inbound.direct and inbound.event.get("idempotency_key") is not None:
            try:
                current = self._key_owner(inbound, current)
            except Invalid as inv:
                self._reject(msg, out, inv, original, past)
                return
        if attempt == 1 and current is not None and current["stage"] != Stage.ACCEPTED:
            # The resolver is the only writer of an event's first state record, and it
            # handles a partition in log order: any state means this one was seen already.
            log.info(
                "duplicate_dropped",
                event_id=inbound.event_id,
                tenant=inbound.tenant,
                stage=current["stage"],
                offset=msg.offset,
            )
            return
        # One time for this attempt: its start, its outcome and its records share it, so a
        # rebuild from the log reproduces the state record exactly.
        now = now_ms()
        history = history_until_now(inbound.event, past, attempt, now)
        problem = self._transient_problem(inbound, attempt)
        if problem is not None:
            self._retry_or_fail(msg, out, inbound, original, attempt, past, problem, history, now)
            return
        if inbound.direct:  # the directory is caught up: the endpoint's recipient check
            try:
                scope = inbound.event["recipients"]
                require_known_recipients(
                    self._directory,
                    inbound.tenant,
                    inbound.org,
                    scope["users"],
                    scope["roles"],
                    scope["groups"],
                )
            except TidingsError as exc:
                self._reject(msg, out, self._refusal(inbound, exc), original, past)
                return
        offset = sum(self._directory_view.position().values())
        channels = policy_for(inbound.event["type"], self._p.channel_policy, self._p.channels)
        # The first slice of its audience (all of it unless large: slices.py, fair sharing).
        progress = self._slicer.resolve(
            out,
            inbound,
            original,
            attempt=attempt,
            past=past,
            channels=channels,
            history=history,
            at=now,
            directory_offset=offset,
        )
        bound.debug(
            "event_resolved",
            recipients=progress.recipients,
            skipped=dict(progress.skipped),
            directory_offset=offset,
        )

    def _continue(self, msg: RawRecord, record: dict[str, Any], out: Outbox) -> None:
        """The next slice of a large audience (a continuation: a retry record with ``slice``)."""
        replay_id = h.text(record["original_headers"], h.REPLAY_ID)
        current = self._current(record["tenant"], record["event_id"], replay_id)
        if current is None or current["stage"] in TERMINAL:
            log.info("slice_dropped_stale", event_id=record["event_id"], tenant=record["tenant"])
            return
        original = (msg.key, record["original_value"], dict(record["original_headers"]))
        past = list(record["attempts"])
        try:
            inbound = self._read(original)
        except Invalid as inv:  # e.g. its client deleted meanwhile: the rest is refused
            self._reject(msg, out, inv, original, past)
            return
        cursor, attempt, now = record["slice"], int(record["attempt"]), now_ms()
        channels = policy_for(inbound.event["type"], self._p.channel_policy, self._p.channels)
        self._slicer.resolve(
            out,
            inbound,
            original,
            attempt=attempt,
            past=past,
            channels=channels,
            history=history_until_now(inbound.event, past, attempt, int(cursor["started"])),
            at=now,
            directory_offset=int(cursor["directory_offset"]),
            cursor=cursor,
        )

    def _key_owner(
        self, inbound: InboundEvent, current: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The state of the event a direct record's Idempotency-Key names (its own ``current``
        when its id is the key's; None: the key's first use), or ``Invalid``: a key names
        one event (``event_id_for``), and another body under it is refused as the endpoint
        refuses it, without touching that event's state."""
        tenant, key = inbound.tenant, str(inbound.event["idempotency_key"])
        owner_id = event_id_for(tenant, key, inbound.org)
        own = owner_id == inbound.event_id
        first = current if own else self._current(tenant, owner_id)
        if first is not None and (first["seq"] == UNPROVEN or first["stage"] == Stage.ACCEPTED):
            first = None
        if first is None:
            if own:
                return None
            # A hand-written id beside its key: nothing else could find this event by its key.
            raise Invalid(
                "invalid_idempotency_key",
                f"a record under this Idempotency-Key must carry the event id {owner_id}",
                inbound.event_id,
                tenant,
                proven=True,
                client_id=str(inbound.event["source"]["client_id"]),
            )
        try:
            require_key_owner(
                first.get("fingerprint"),
                first.get("accepted_at"),
                inbound.event.get("fingerprint"),
                now_ms(),
                self._key_window_ms,
            )
        except TidingsError as exc:
            raise self._refusal(inbound, exc, own_state=not own) from None
        return first  # the key's event again: a duplicate, dropped below

    @staticmethod
    def _refusal(inbound: InboundEvent, exc: TidingsError, own_state: bool = True) -> Invalid:
        return Invalid(
            exc.code,
            detail_of(exc),
            inbound.event_id,
            inbound.tenant,
            proven=True,
            client_id=str(inbound.event["source"]["client_id"]),
            own_state=own_state,
        )

    def _transient_problem(self, inbound: InboundEvent, attempt: int) -> tuple[str, str] | None:
        if not self._directory_view.ready:
            return "directory_not_ready", "the directory view has not caught up yet"
        # Test hook (docs/processing.md): fail this type's first N attempts transiently.
        if attempt <= self._hooks.faults.get(inbound.event["type"], 0):
            return "injected_fault", f"injected transient failure on attempt {attempt}"
        return None

    def _retry_or_fail(
        self,
        msg: RawRecord,
        out: Outbox,
        inbound: InboundEvent,
        original: Original,
        attempt: int,
        past: list[dict[str, Any]],
        problem: tuple[str, str],
        history: list[dict[str, Any]],
        now: int,
    ) -> None:
        error_class, detail = problem
        attempts = [*past, attempt_entry(attempt, error_class, detail, at=now)]
        bound = log.bind(event_id=inbound.event_id, tenant=inbound.tenant, attempt=attempt)
        if attempt >= self._p.retry_attempts:
            self._writes.state(
                out,
                event_state(
                    inbound.event,
                    Stage.FAILED,
                    attempt=attempt,
                    error_class=error_class,
                    detail=f"gave up after {attempt} attempts",
                    history=history,
                    at=now,
                ),
                self._pending,
            )
            self._writes.dead_letter(
                out,
                dead_letter(
                    msg,
                    outcome="failed",
                    error_class=error_class,
                    detail=detail,
                    event_id=inbound.event_id,
                    tenant=inbound.tenant,
                    attempts=attempts,
                    original=original,
                    at=now,
                ),
            )
            bound.warning("event_failed", error_class=error_class)
            return
        not_before = now_ms() + backoff_ms(attempt + 1, self._p.retry_base_ms, self._p.retry_cap_ms)
        self._writes.state(
            out,
            event_state(
                inbound.event,
                Stage.RETRYING,
                attempt=attempt,
                next_attempt_at=not_before,
                error_class=error_class,
                detail="a transient failure; will retry",
                history=history,
                at=now,
            ),
            self._pending,
        )
        _key, value, headers = original
        record = retry_record(
            inbound.event_id,
            inbound.tenant,
            value or b"",
            headers,
            attempt + 1,
            not_before,
            attempts,
        )
        out.produce(
            self._topics.retry.name,
            event_key(inbound.tenant),
            self._codec.encode("retry", record),
            partition=self._writes.partition_of(inbound.tenant),
        )
        out.retries += 1
        bound.info("event_retrying", error_class=error_class, next_attempt_at=not_before)

    def _handle_retry(self, msg: RawRecord, record: dict[str, Any], out: Outbox) -> None:
        if record.get("slice") is not None:
            self._continue(msg, record, out)
            return
        if record["not_before"] > now_ms():
            raise Defer(record["not_before"])  # the loop pauses this partition until then
        replay_id = h.text(record["original_headers"], h.REPLAY_ID)
        current = self._current(record["tenant"], record["event_id"], replay_id)
        if (
            current is None
            or current["stage"] != Stage.RETRYING
            or current["attempt"] != record["attempt"] - 1
        ):
            log.info(
                "retry_dropped_stale",
                event_id=record["event_id"],
                tenant=record["tenant"],
                attempt=record["attempt"],
            )
            return
        original = (msg.key, record["original_value"], dict(record["original_headers"]))
        past = list(record["attempts"])
        try:
            inbound = self._read(original)
        except Invalid as inv:
            self._reject(msg, out, inv, original, past)
            return
        self._handle(msg, out, original, inbound, record["attempt"], past)

    def _reject(
        self,
        msg: RawRecord,
        out: Outbox,
        inv: Invalid,
        original: Original,
        past: list[dict[str, Any]],
    ) -> None:
        # An unproven record gets a `rejected` state only for an unknown id: it must not
        # overwrite the state of someone else's event that happens to carry the same id.
        now = now_ms()  # the state and its dead letter share it (a rebuild reproduces it)
        current = self._current(inv.tenant, inv.event_id) if inv.event_id and inv.tenant else None
        known_ours = inv.proven and current is not None and current["stage"] not in TERMINAL
        if inv.own_state and inv.event_id and inv.tenant and (current is None or known_ours):
            self._writes.state(
                out,
                state_record(
                    inv.event_id,
                    inv.tenant,
                    Stage.REJECTED,
                    error_class=inv.error_class,
                    detail=inv.detail[:300],
                    unproven=not inv.proven,
                    client_id=inv.client_id,
                    at=now,
                ),
                self._pending,
            )
        self._writes.dead_letter(
            out,
            dead_letter(
                msg,
                outcome="rejected",
                error_class=inv.error_class,
                detail=inv.detail,
                event_id=inv.event_id,
                tenant=inv.tenant,
                attempts=past,
                original=original,
                at=now,
            ),
        )
        log.warning(
            "event_rejected",
            event_id=inv.event_id,
            tenant=inv.tenant,
            error_class=inv.error_class,
            detail=inv.detail[:200],
        )
