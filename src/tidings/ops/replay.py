"""Replay: re-drive processing of selected events, deduplicated by default, audited always.

Default: the selected records are written again to the events topic byte for byte (same key,
value, signature) plus a ``replay-id`` header. The resolver sees event ids it has already
processed and drops them, so an event already ``dispatched`` gets no second delivery, while
one that never finished is processed now.

``force_redeliver``: each selected event the pipeline accepted (it has a state record that
is not ``rejected``) is written as a copy with the envelope's ``replay_id`` set, signed by a
replay identity (tenant ``*``, which vouches for the original ``source.client_id`` exactly as
the ingest identity does). The resolver treats (event id, replay id) as a processing identity
of its own, so the copy is resolved and fanned out once more, every delivery request carries
the replay id, and running the same replay twice still gives one extra set. The contract is
written down in docs/operations.md ("Forced redelivery").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.state import Stage
from tidings.contracts.topics import Topics
from tidings.domain.envelope import encode_event
from tidings.kafka.producer import durable_producer, produce_sync
from tidings.kafka.records import Outgoing
from tidings.ops.batch_write import write_all
from tidings.ops.replay_select import Candidate
from tidings.ops.replay_signer import ReplaySigner
from tidings.settings import Settings

Advance = Callable[[int], None]


@dataclass
class ReplayReport:
    replay_id: str
    started_by: str
    range: dict[str, Any]
    force_redeliver: bool
    dry_run: bool
    selected: int = 0
    replayed: int = 0
    already_dispatched: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def audit_record(self) -> dict[str, Any]:
        return {
            "replay_id": self.replay_id,
            "started_by": self.started_by,
            "tenant": self.range.get("tenant"),
            "range": orjson.dumps(self.range, option=orjson.OPT_SORT_KEYS).decode(),
            "force_redeliver": self.force_redeliver,
            "dry_run": self.dry_run,
            "selected": self.selected,
            "replayed": self.replayed,
            "at": int(time.time() * 1000),
        }


def plan(
    report: ReplayReport,
    candidates: Iterable[Candidate],
    states: dict[tuple[str, str], dict[str, Any]],
) -> list[Candidate]:
    """Which candidates are written; counts what is selected, dispatched and skipped."""
    chosen = []
    for c in candidates:
        report.selected += 1
        stage = (states.get((c.tenant, c.event_id)) or {}).get("stage")
        report.already_dispatched += stage == Stage.DISPATCHED
        if report.force_redeliver and stage in (None, Stage.REJECTED):
            # Never re-sign what the pipeline did not accept: that would launder a forgery.
            reason = "never_processed" if stage is None else "rejected"
            report.skipped[reason] = report.skipped.get(reason, 0) + 1
            continue
        chosen.append(c)
    return chosen


def replay_record(
    c: Candidate, report: ReplayReport, codec: Codec, signer: ReplaySigner | None
) -> tuple[bytes | None, bytes, h.Headers]:
    """The record written for one candidate (see the module docstring for both modes)."""
    if signer is None:
        kept: h.Headers = [(k, v) for k, v in c.headers if k != h.REPLAY_ID]
        return c.key, c.value, [*kept, (h.REPLAY_ID, report.replay_id.encode())]
    envelope = {**c.envelope, "replay_id": report.replay_id}
    value, headers = encode_event(codec, envelope, signer.signer)
    return c.key, value, [*headers, (h.REPLAY_ID, report.replay_id.encode())]


def write(
    settings: Settings,
    chosen: list[Candidate],
    report: ReplayReport,
    codec: Codec,
    signer: ReplaySigner | None,
    advance: Advance,
) -> None:
    """Batch the records with delivery callbacks; ``replayed`` counts acknowledged ones."""
    topic = Topics(settings).events.name
    records = (Outgoing(topic, *replay_record(c, report, codec, signer)) for c in chosen)
    report.replayed = write_all(settings, f"replay-{report.replay_id[:8]}", records, advance)


def audit(settings: Settings, report: ReplayReport, codec: Codec) -> None:
    """The replays topic keeps who replayed what, when, and how much (dry runs included)."""
    produce_sync(
        durable_producer(settings, "replay-audit"),
        Topics(settings).replays.name,
        report.replay_id.encode(),
        codec.encode("replay_audit", report.audit_record()),
        h.to_list({h.CONTENT_TYPE: "application/avro", h.REPLAY_ID: report.replay_id}),
    )
