"""Record schemas evolve compatibly: every version of a record reads data written with every
other version, so services of different releases share the topics during a rolling upgrade."""

from __future__ import annotations

import io

import pytest
from fastavro import schemaless_writer

from tidings.contracts.codec import MAGIC, Codec, crc64_fingerprint, io_schema, parse
from tidings.contracts.schema_files import load_json, record_schema_files, schemas_root
from tidings.domain.compatibility import Compatibility, incompatibilities

VERSIONS = {
    name: [load_json(versions[v]) for v in sorted(versions)]
    for name, versions in record_schema_files(schemas_root()).items()
}
EVOLVED = sorted(name for name, schemas in VERSIONS.items() if len(schemas) > 1)


def test_the_organization_records_have_evolved() -> None:
    assert {"client", "directory_entry", "event"} <= set(EVOLVED)


@pytest.mark.parametrize("name", EVOLVED)
def test_the_newest_version_is_fully_compatible_with_every_earlier_one(name: str) -> None:
    *earlier, newest = VERSIONS[name]
    assert incompatibilities(newest, list(earlier), Compatibility.FULL) == []


def test_a_client_written_before_organizations_reads_as_tenant_wide_of_every_kind() -> None:
    codec = Codec()
    old = {
        "client_id": "c1",
        "tenant": "acme",
        "secret_hash": "h",
        "scopes": ["notifications:write"],
        "created_at": 0,
    }
    v1 = parse(VERSIONS["client"][0])
    out = io.BytesIO()  # the v1 bytes, as a release before wrote them
    schemaless_writer(out, io_schema(v1), old)
    _, record = codec.decode(MAGIC + crc64_fingerprint(v1) + out.getvalue(), expect="client")
    assert (record["org"], record["targets"]) == (None, [])
