"""Shared test support. Plugins registered in tests/conftest.py: ``kafka`` (the session's
broker, a topic prefix per module), ``pipeline`` (service processes, a signed direct
producer, read_committed readers), ``ingest`` (the ingest process and its API clients).
Helpers: ``ports`` (service ports apart per xdist worker), ``schemas`` (payload schema
fixtures), ``contract`` (the OpenAPI checks of generated requests), ``hostile`` and
``security`` (what the hostile-input and security suites share), ``runtime_parts`` (an
in-process ingest runtime), ``avro_strategies`` (Hypothesis data for Avro schemas),
``metric_names`` (exported metrics and the names PromQL uses), and for the fault suites
``brokers`` (killable brokers), ``stack`` (the whole service stack as processes), ``load``
(an HTTP load with a ledger), ``workload`` (a steady signed stream and the deliveries it
must produce), ``directory_load`` (large directories written straight to their topic),
``faults`` (small topics, expected deliveries, the report line), ``outcome`` and ``report``
(sent / acknowledged / dispatched / lost / duplicated of every scenario)."""

import pytest

# Helpers that assert, and are not plugins: rewritten like the conftests and test modules
# they came from, so a failure shows its values.
pytest.register_assert_rewrite("tests.support.hostile", "tests.support.directory_load")
