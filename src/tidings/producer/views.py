"""What the library reads to apply the endpoint's rules: the same three views the ingest keeps.

- the clients topic (``ClientRegistry``): the producer's own record, so its scopes, event-type
  allow-list and revocation are the ones the endpoint would apply, followed while it runs;
- the directory (``store_directory``, local RocksDB stores like the ingest's): recipients are
  checked before a record is written, so an unknown user is a 422 here, not ``skipped`` later;
- the events of the key window (``RecentEvents``): an Idempotency-Key first used for another
  body is refused with the endpoint's 422. Only the producer's tenant's partition is read.

All three replay to their high watermarks before the producer is usable, as in the ingest.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.topics import Topics
from tidings.domain.clients import ClientRegistry
from tidings.domain.directory import Contact, DirectoryReader, User
from tidings.domain.origin import proven_by
from tidings.domain.rules import Rule
from tidings.errors import Unavailable
from tidings.kafka.view import CompactedView
from tidings.settings import Settings
from tidings.stores.clients import clients_view
from tidings.stores.directory import StoreDirectory, store_directory
from tidings.stores.events import RecentEvents, events_view


class LibraryViews:
    """The clients, directory and recent-events views of one producer."""

    def __init__(
        self,
        settings: Settings,
        codec: Codec,
        client_id: str,
        tenant: str,
        stores_dir: Path | None = None,
    ) -> None:
        self.clients = ClientRegistry()
        # Without ``stores_dir`` the stores are temporary (replayed from the topic at start);
        # a long-running producer passes a directory of its own to resume from checkpoints.
        stored, directory_view = store_directory(
            settings, codec, f"producer-{client_id}", root=stores_dir
        )
        self.directory: DirectoryReader = KnownScopes(stored)
        self.recent = RecentEvents(
            settings.topics.idempotency_window_ms, codec, proven_by(self.clients)
        )
        self._settings, self._stores_dir = settings, stores_dir
        # The rulebook asks about this tenant's keys only, and a tenant's events all live in
        # one partition: the others (every other tenant's traffic) are not read at all.
        self._partition = tenant_partition(tenant, Topics(settings).events.partitions)
        self._service = f"producer-{client_id}"
        self._clients_view = clients_view(settings, codec, self.clients)
        self._views: list[CompactedView] = [directory_view, self._clients_view]

    def start(self, timeout_s: float) -> LibraryViews:
        """Start every view and wait until all replayed to their high watermarks."""
        deadline = time.monotonic() + timeout_s
        for view in self._views:
            view.start()
        try:
            # Events are indexed only once their origin verifies: the clients come first.
            if not self._clients_view.wait_ready(max(0.0, deadline - time.monotonic())):
                raise Unavailable("the clients topic could not be read in time")
            # Made only now: a view holds a consumer from its construction to its end.
            events = events_view(
                self._settings,
                self.recent,
                service=self._service,
                root=self._stores_dir,
                partitions=[self._partition],
            )
            self._views.append(events.start())
            for view in self._views:
                if not view.wait_ready(max(0.0, deadline - time.monotonic())):
                    raise Unavailable(f"the {view.name} view could not be read in time")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for view in self._views:
            view.stop()
        self._views = []


class KnownScopes:
    """The directory as the library's checks read it: a role or group found is remembered for
    ``ttl_s`` (one such lookup scans every partition's store: ~50 us, as much as the rest of
    a send), one not found is looked up again each time. So a role deleted may still be
    accepted for ``ttl_s``, no longer than the view's own lag; the resolver then finds it
    empty, as it would for a request the endpoint accepted just before the deletion."""

    def __init__(self, directory: StoreDirectory, ttl_s: float = 1.0) -> None:
        self._directory = directory
        self._ttl_s = ttl_s
        self._found: dict[tuple[str, str, str, str | None], float] = {}

    def _known(self, kind: str, tenant: str, name: str, org: str | None) -> bool:
        key, now = (kind, tenant, name, org), time.monotonic()
        if self._found.get(key, 0.0) > now:
            return True
        lookup = self._directory.has_role if kind == "role" else self._directory.has_group
        if not lookup(tenant, name, org):
            return False
        if len(self._found) > 10_000:
            self._found.clear()
        self._found[key] = now + self._ttl_s
        return True

    def has_role(self, tenant: str, role: str, org: str | None = None) -> bool:
        return self._known("role", tenant, role, org)

    def has_group(self, tenant: str, group: str, org: str | None = None) -> bool:
        return self._known("group", tenant, group, org)

    def get(self, tenant: str, user_id: str) -> User | None:
        return self._directory.get(tenant, user_id)

    def contacts(self, tenant: str, user_ids: Sequence[str]) -> Sequence[Contact | None]:
        return self._directory.contacts(tenant, user_ids)

    def role_members(self, tenant: str, role: str) -> list[str]:
        return self._directory.role_members(tenant, role)

    def group_members(self, tenant: str, group: str) -> list[str]:
        return self._directory.group_members(tenant, group)

    def matching(self, tenant: str, rule: Rule) -> set[str]:
        return self._directory.matching(tenant, rule)

    def users(self, tenant: str) -> Iterator[User]:
        return self._directory.users(tenant)

    def count(self, tenant: str | None = None) -> int:
        return self._directory.count(tenant)

    def tenants(self) -> list[str]:
        return self._directory.tenants()
