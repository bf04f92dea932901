"""``--org ORG`` of ``tidings events tail|dump`` and ``tidings trace``: only the records of
events created by clients of one organization (the events and state topics, whose records
name their creator).

An event record says its organization (``org``); a record of a direct producer that names
none, and a state record, are attributed through the creating client's record, as the API
attributes them for reads.
"""

from __future__ import annotations

from typing import Any

from tidings.cli import output
from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.domain.clients import ClientRegistry
from tidings.kafka.records import RawRecord
from tidings.kafka.view import replayed
from tidings.ops.records_json import decode
from tidings.settings import Settings
from tidings.stores.clients import clients_view

RECORDS = ("event", "state")  # the records that name the client that created the event


class OrgFilter:
    def __init__(self, settings: Settings, codec: Codec, record: str | None, org: str) -> None:
        if record not in RECORDS:
            output.fail("--org applies to the events and state topics", output.USAGE)
        self._codec, self._record, self.org = codec, record, org
        self._clients = ClientRegistry()
        view = clients_view(settings, codec, self._clients)
        with output.errors_as_exit_codes(), replayed(view, Topics(settings).clients.name, 30):
            pass  # replayed once: the tool reads what is on the topic now

    def keep(self, raw: RawRecord) -> bool:
        value, _ = decode(raw, self._codec, self._record)
        return value is not None and self.org_of(value) == self.org

    def org_of(self, value: dict[str, Any]) -> str | None:
        if value.get("org"):
            return str(value["org"])
        source = value.get("source") or {}
        creator = self._clients.get(str(source.get("client_id") or value.get("client_id") or ""))
        return creator.org if creator is not None else None
