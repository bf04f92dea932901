"""A steady stream of signed events over several tenants, and the delivery multiset it must
produce: (event id, user, channel) -> 1 for every member of the targeted role."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from tests.support.pipeline import POLICY, DirectProducer, deliveries, load_users
from tidings.settings import Settings

TENANTS = [f"t{i}" for i in range(6)]
CHANNELS = {"in_app": "{}", "email": "{}@x.test"}


def directory() -> list[dict[str, Any]]:
    users = []
    for tenant in TENANTS:
        for i in range(3):
            uid = f"{tenant}-u{i}"
            users.append(
                {
                    "tenant": tenant,
                    "id": uid,
                    "roles": ["team"],
                    "channels": {c: a.format(uid) for c, a in CHANNELS.items()},
                }
            )
    return users


class Workload:
    def __init__(self, settings: Settings, events: int, seconds: float) -> None:
        load_users(settings, directory())
        self.settings = settings
        self.producers = {t: DirectProducer(settings, t) for t in TENANTS}
        self.events, self.seconds = events, seconds
        self.sent: list[tuple[str, str]] = []  # (tenant, event id)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Workload:
        self.thread.start()
        return self

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()

    def _run(self) -> None:
        started = time.monotonic()
        for n in range(self.events):
            tenant = TENANTS[n % len(TENANTS)]
            event_id = self.producers[tenant].send(
                {
                    "type": "content.approved",
                    "recipients": {"roles": ["team"]},
                    "payload": {"content_id": f"c-{n}"},
                }
            )
            self.sent.append((tenant, event_id))
            # Pace the stream so kills land while events flow.
            ahead = started + self.seconds * (n + 1) / self.events - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        for producer in self.producers.values():
            producer.flush()

    def expected(self) -> Counter[tuple[str, str, str]]:
        channels = [c for c in POLICY["content.approved"] if c in CHANNELS]
        return Counter(
            (event_id, f"{tenant}-u{i}", channel)
            for tenant, event_id in self.sent
            for i in range(3)
            for channel in channels
        )

    def actual(self) -> Counter[tuple[str, str, str]]:
        ids = {event_id for _, event_id in self.sent}
        return Counter(
            (d["event_id"], d["user_id"], d["channel"])
            for d in deliveries(self.settings, lambda d: d["event_id"] in ids)
        )
