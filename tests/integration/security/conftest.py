"""Security fixtures: the ingest process of tests/support/ingest.py (two tenants, acme and
globex, with a small directory) and a matrix of clients with different scopes (``Clients``
of tests/support/security.py)."""

from __future__ import annotations

import pytest

from tests.support.ingest import IngestProcess, new_client
from tests.support.security import Clients
from tidings.domain.clients import SCOPE_READ, SCOPE_WRITE


@pytest.fixture(scope="module")
def clients(ingest: IngestProcess) -> Clients:
    return Clients(
        acme_rw=new_client(ingest, "acme"),
        acme_write=new_client(ingest, "acme", (SCOPE_WRITE,)),
        acme_read=new_client(ingest, "acme", (SCOPE_READ,)),
        acme_typed=new_client(ingest, "acme", event_types=("other.*",)),
        globex_rw=new_client(ingest, "globex"),
    )
