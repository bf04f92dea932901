"""The directory over HTTP: whole user entries, the JSON Lines format without ``tenant``.

One parser for files and HTTP: an entry is validated by ``DirectoryLine``, the model
``tidings directory load`` validates each line with, the tenant being the credential's.
Writes go to the compacted directory topic exactly as a file load writes them (key
``tenant/id``, a ``directory_entry`` record), so resolution sees them at processing time as it
sees file loads. A write is answered once this replica's directory view applied it; a GET
first reads the user's partition up to its end as of now, so what any replica wrote before
is what it answers (read-your-writes on every replica). No HTTP here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from tidings.contracts.partitioning import partition_for
from tidings.contracts.topics import user_key
from tidings.domain.clients import ApiClient
from tidings.domain.directory import DirectoryLine, User, in_org
from tidings.errors import (
    FieldError,
    Forbidden,
    NotFound,
    Unavailable,
    ValidationFailed,
)
from tidings_ingest.runtime import Runtime
from tidings_ingest.transactions import Record

RECORD = "directory_entry"
MEMBERSHIPS = ("roles", "groups", "orgs")  # what a deleted user leaves


def pointer(*parts: str | int) -> str:
    """An RFC 6901 JSON pointer (``/users/3/channels``)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def parse_entry(tenant: str, user_id: str, data: Any, at: Sequence[str | int] = ()) -> User:
    """A whole directory entry of ``tenant`` from a request body; errors point into it."""
    if not isinstance(data, dict):
        raise ValidationFailed(
            "a directory entry must be a JSON object",
            errors=[FieldError(pointer(*at) or "/", "expected object")],
        )
    errors: list[FieldError] = []
    if "tenant" in data:
        errors.append(
            FieldError(pointer(*at, "tenant"), "not allowed: the tenant is the credential's")
        )
    if "id" in data and data["id"] != user_id:
        errors.append(FieldError(pointer(*at, "id"), "must be the id in the path"))
    fields = {k: v for k, v in data.items() if k != "tenant"}
    try:
        line = DirectoryLine.model_validate({**fields, "tenant": tenant, "id": user_id})
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            errors.append(FieldError(pointer(*at, *error["loc"]), error["msg"]))
    if errors:
        raise ValidationFailed("the directory entry is invalid", errors=errors)
    return User.from_line(line)


def parse_batch(tenant: str, data: Any, limit: int) -> list[User]:
    """``{"users": [entry with its id, …]}``: every entry valid, or nothing is written."""
    if not isinstance(data, dict) or set(data) != {"users"} or not isinstance(data["users"], list):
        raise ValidationFailed(
            'the body must be {"users": [...]}',
            errors=[FieldError("/users", "expected an object with only a users array")],
        )
    items: list[Any] = data["users"]
    if len(items) > limit:  # as the notification batch answers it (batch.py)
        raise ValidationFailed(
            f"at most {limit} users per batch",
            errors=[FieldError("/users", f"{len(items)} users, at most {limit}")],
        )
    if not items:
        raise ValidationFailed("empty batch", errors=[FieldError("/users", "at least one user")])
    users: list[User] = []
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        user_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(user_id, str):
            errors.append(FieldError(pointer("users", i, "id"), "a string id is required"))
            continue
        if user_id in seen:
            errors.append(FieldError(pointer("users", i, "id"), "listed twice in this batch"))
            continue
        seen.add(user_id)
        try:
            users.append(parse_entry(tenant, user_id, item, ("users", i)))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed("the batch is invalid; nothing was written", errors=errors)
    return users


def entry_view(user: User) -> dict[str, Any]:
    """An entry as the API shows it: the JSON Lines format without ``tenant``."""
    record = user.to_record()
    record.pop("tenant", None)
    return record


def left(user: User) -> User:
    """A deleted user: inactive, in no role, group or organisation; the rest is kept."""
    record = user.to_record()
    record["active"] = False
    for name in MEMBERSHIPS:
        if name in record:
            record[name] = []
    return User.from_line(DirectoryLine.model_validate(record))


def require_tenant_wide(client: ApiClient) -> None:
    """Writes are the tenant's: an organization's client may read its members, not edit the
    directory (it could otherwise move any user into or out of its organization)."""
    if client.org is not None:
        raise Forbidden("directory writes need a credential of the whole tenant")


class DirectoryApi:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def put(self, client: ApiClient, user_id: str, data: Any) -> dict[str, Any]:
        require_tenant_wide(client)
        user = parse_entry(client.tenant, user_id, data)
        await self._write([user])
        return entry_view(user)

    async def batch(self, client: ApiClient, data: Any) -> dict[str, Any]:
        require_tenant_wide(client)
        users = parse_batch(client.tenant, data, self._rt.settings.ingest.directory_batch_max)
        await self._write(users)
        return {"users": [entry_view(u) for u in users]}

    async def get(self, client: ApiClient, user_id: str) -> dict[str, Any]:
        return entry_view(await self._current(client, user_id))

    async def delete(self, client: ApiClient, user_id: str) -> dict[str, Any]:
        require_tenant_wide(client)
        gone = left(await self._current(client, user_id))
        await self._write([gone])
        return entry_view(gone)

    async def _current(self, client: ApiClient, user_id: str) -> User:
        await asyncio.to_thread(self._catch_up, client.tenant, user_id)
        user = self._rt.directory.get(client.tenant, user_id)
        # Another tenant's user, or one outside the client's organization, is answered
        # exactly like a missing one.
        if user is None or not in_org(user, client.org):
            raise NotFound("no user with this id")
        return user

    async def _write(self, users: Sequence[User]) -> None:
        """Append the entries, then wait for this replica's view to apply them. One entry is
        one idempotent ``acks=all`` append; several are one transaction (every directory
        reader is ``read_committed``: a batch is seen whole or not at all)."""
        rt = self._rt
        topic = rt.topics.directory.name
        records = [
            Record(topic, user_key(u.tenant, u.id), rt.codec.encode(RECORD, u.to_record()), [], 0)
            for u in users
        ]
        written: list[tuple[int | None, int | None]]
        if len(records) == 1:
            msg = await rt.producer.produce(topic, records[0].key, records[0].value)
            written = [(msg.partition(), msg.offset())]
        else:
            placed = await asyncio.to_thread(rt.transactions.append, records)
            written = [(p.partition, p.offset) for p in placed]
        await asyncio.to_thread(self._applied, written)

    def _applied(self, written: Sequence[tuple[int | None, int | None]]) -> None:
        view, timeout = self._rt.directory_view, self._rt.settings.ingest.produce_timeout_s
        for partition, offset in written:
            if partition is None or offset is None:
                raise Unavailable("the directory did not confirm the write")
            if not view.wait_for(partition, offset, timeout):
                raise Unavailable("the write was confirmed but not read back in time")

    def _catch_up(self, tenant: str, user_id: str) -> None:
        rt = self._rt
        partition = partition_for(user_key(tenant, user_id), rt.topics.directory.partitions)
        high = rt.directory_barrier.high_watermarks([partition])[partition]
        if high > 0 and not rt.directory_view.wait_for(
            partition, high - 1, rt.settings.ingest.produce_timeout_s
        ):
            raise Unavailable("the directory could not be read up to date in time")
