"""All-or-nothing batches: ``POST /api/v1/notifications/batch``. No HTTP here.

Every item is checked the way a single create is (docs/ingest.md, same order, same codes)
before anything is written; one failing item fails the batch with every failing item named
by a JSON Pointer into the batch body (``/notifications/3/payload/content_id``). Items whose
Idempotency-Key already created the same request are replays (no new record); the others are
appended in ONE Kafka transaction (transactions.py). A client's items all share its tenant,
so they land in one partition, in item order.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import orjson

from tidings import tracing
from tidings.contracts.topics import event_key
from tidings.domain.clients import ApiClient
from tidings.domain.envelope import request_fingerprint
from tidings.domain.idempotency import check_key
from tidings.errors import (
    FieldError,
    Forbidden,
    IdempotencyKeyExpired,
    TidingsError,
    Unavailable,
    ValidationFailed,
)
from tidings.stores.events import Appended
from tidings_ingest.admission import admit, event_record, expired_event
from tidings_ingest.idempotency import replay_of
from tidings_ingest.runtime import Runtime
from tidings_ingest.transactions import Record, TransactionalAppender

KEY_FIELD = "idempotency_key"


@dataclass
class Item:
    """One checked item: a replay of an earlier event, or an event to append."""

    index: int
    key: str | None
    fingerprint: str | None  # with a key only, as for a single create
    event_id: str
    type: str
    version: int
    accepted_at: int = 0
    record: Record | None = None  # None: a replay, nothing to append
    replayed: bool = False

    def entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.event_id,
            "status": "accepted",
            "type": self.type,
            "version": self.version,
            "accepted_at": self.accepted_at,
        }
        if self.replayed:
            out["replayed"] = True
        return out


def pointer(index: int, path: str) -> str:
    """A field path of a single create (``recipients.users[0]``) as a JSON Pointer into the
    batch body (``/notifications/<index>/recipients/users/0``)."""
    base = f"/notifications/{index}"
    if path in ("", "body"):
        return base
    parts = re.sub(r"\[(\d+)\]", r".\1", path).strip(".").split(".")
    escaped = (p.replace("~", "~0").replace("/", "~1") for p in parts)
    return base + "".join(f"/{p}" for p in escaped)


def batch_items(data: Any, limit: int) -> list[Any]:
    """The items of a batch body, or 422 for a body of another shape or over ``limit``."""
    if not isinstance(data, dict) or set(data) != {"notifications"}:
        raise ValidationFailed(
            'the body must be {"notifications": [...]}',
            errors=[FieldError("/notifications", "required, and the only field")],
        )
    items = data["notifications"]
    if not isinstance(items, list) or not items:
        raise ValidationFailed(
            "notifications must be a non-empty list",
            errors=[FieldError("/notifications", "expected a non-empty list")],
        )
    if len(items) > limit:
        raise ValidationFailed(
            f"at most {limit} notifications per batch",
            errors=[FieldError("/notifications", f"{len(items)} items, at most {limit}")],
        )
    return items


class Batches:
    def __init__(self, runtime: Runtime, appender: TransactionalAppender) -> None:
        self._rt = runtime
        self._appender = appender

    async def create(self, client: ApiClient, data: Any) -> list[dict[str, Any]]:
        """One entry per item, in order; every new item committed, or none (raises)."""
        raw_items = batch_items(data, self._rt.settings.limits.max_batch_items)
        tenant, rt = client.tenant, self._rt
        keys = self._keys(raw_items)
        begun: list[str] = []
        try:
            for key in keys:
                if key is not None:
                    rt.keys_in_flight.begin(tenant, key, client.org)  # 409 if concurrent
                    begun.append(key)
            items = self._check(client, raw_items, keys)
            fresh = [item for item in items if item.record is not None]
            if fresh:
                records = [item.record for item in fresh if item.record is not None]
                placed = await asyncio.to_thread(self._appender.append, records)
                # The commit returns before its markers are on the partition: until then no
                # read_committed reader sees the batch. Answer once this replica's view has
                # read it back, so a GET or a list after the 202 finds every item.
                await self._read_back(placed[-1].partition, placed[-1].offset)
                for item, where in zip(fresh, placed, strict=True):
                    rt.metrics.accepted_by(tenant).inc()
                    if item.key is not None:
                        self._settle_race(client, item, where.offset)
            return [item.entry() for item in items]
        finally:
            for key in begun:
                rt.keys_in_flight.finish(tenant, key, client.org)

    def _keys(self, raw_items: list[Any]) -> list[str | None]:
        """Each item's Idempotency-Key; a malformed or repeated one fails the batch first."""
        keys: list[str | None] = []
        errors: list[FieldError] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(raw_items):
            key = raw.get(KEY_FIELD) if isinstance(raw, dict) else None
            where = f"/notifications/{index}/{KEY_FIELD}"
            if key is not None and not isinstance(key, str):
                errors.append(FieldError(where, "expected a string"))
                key = None
            try:
                key = check_key(key)
            except TidingsError as exc:
                errors.append(FieldError(where, exc.detail))
                key = None
            if key is not None and key in seen:
                errors.append(FieldError(where, f"also the key of item {seen[key]}"))
            elif key is not None:
                seen[key] = index
            keys.append(key)
        if errors:
            raise ValidationFailed("invalid Idempotency-Keys in the batch", errors=errors)
        return keys

    def _check(self, client: ApiClient, raw_items: list[Any], keys: list[str | None]) -> list[Item]:
        items: list[Item] = []
        failed: list[tuple[int, TidingsError]] = []
        for index, (raw, key) in enumerate(zip(raw_items, keys, strict=True)):
            try:
                items.append(self._item(client, index, raw, key))
            except TidingsError as exc:
                if exc.status >= 500:
                    raise
                failed.append((index, exc))
        if failed:
            raise batch_error(failed)
        return items

    def _item(self, client: ApiClient, index: int, raw: Any, key: str | None) -> Item:
        """The checks of a single create, in its order (notifications.py)."""
        rt, tenant = self._rt, client.tenant
        if not isinstance(raw, dict):
            raise ValidationFailed(
                "an item must be a JSON object", errors=[FieldError("body", "expected object")]
            )
        request = admit(client, {k: v for k, v in raw.items() if k != KEY_FIELD})
        fingerprint = None
        if key is not None:
            fingerprint = request_fingerprint(request)
            first = rt.events.first(tenant, key, client.org)
            if first is not None:
                return _replay(index, key, replay_of(first, fingerprint))
            event_id = expired_event(rt, client, key)
            if event_id is not None:
                raise IdempotencyKeyExpired(
                    f"this Idempotency-Key created event {event_id} before the key window",
                    errors=[FieldError(KEY_FIELD, "expired: use a new key")],
                )
        event = event_record(rt, client, request, key, fingerprint)
        if tracing.ENABLED:  # outside the MAC (key and value only): adding it is safe
            tracing.inject(event.headers)  # the batch request's span: one trace, every item
        record = Record(
            rt.topics.events.name, event_key(tenant), event.value, event.headers, event.accepted_at
        )
        return Item(
            index,
            key,
            fingerprint,
            event.event_id,
            request.type,
            event.version,
            event.accepted_at,
            record,
        )

    async def _read_back(self, partition: int, offset: int) -> None:
        view = self._rt.events_view
        if not view.wait_for(partition, offset, 0):
            timeout = self._rt.settings.ingest.produce_timeout_s
            if not await asyncio.to_thread(view.wait_for, partition, offset, timeout):
                raise Unavailable("the batch was committed but not read back in time; retry it")

    def _settle_race(self, client: ApiClient, item: Item, offset: int) -> None:
        """Another replica may have used this key first: the log's order decides, as for a
        single create; the item then answers as that event's replay."""
        assert item.key is not None
        assert item.fingerprint is not None  # a keyed item has one
        first = self._rt.events.first(client.tenant, item.key, client.org)
        if first is not None and first.offset != offset:
            done = _replay(item.index, item.key, replay_of(first, item.fingerprint))
            item.event_id, item.accepted_at, item.replayed = done.event_id, done.accepted_at, True


def _replay(index: int, key: str, first: Appended) -> Item:
    return Item(
        index,
        key,
        first.fingerprint,
        first.event_id,
        first.type,
        first.version,
        first.accepted_at,
        replayed=True,
    )


def batch_error(failed: list[tuple[int, TidingsError]]) -> TidingsError:
    """One answer for every failing item: 403 if any item is forbidden, else 422; either
    with the code of the items that decide it when they agree (``recipients_not_allowed``
    for a batch whose only refusal is a target, as for a single create), else the generic
    ``forbidden`` / ``validation_failed``."""
    errors: list[FieldError] = []
    for index, exc in failed:
        fields = exc.errors or [FieldError("body", exc.detail)]
        errors.extend(FieldError(pointer(index, f.path), f.message) for f in fields)
    items = ", ".join(str(index) for index, _ in failed)
    forbidden = [exc for _, exc in failed if exc.status == 403]
    error: TidingsError
    if forbidden:
        deciding = forbidden
        error = Forbidden(f"items {items} are not allowed for this client", errors=errors)
    else:
        deciding = [exc for _, exc in failed]
        error = ValidationFailed(f"items {items} are invalid; nothing was appended", errors=errors)
    if len({exc.code for exc in deciding}) == 1:
        error.code, error.title = deciding[0].code, deciding[0].title
    return error


def batch_body(entries: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"notifications": entries})
