"""Shared test support. Plugins registered in tests/conftest.py: ``kafka`` (the session's
broker, a topic prefix per module), ``pipeline`` (service processes, a signed direct
producer, read_committed readers), ``ingest`` (the ingest process and its API clients).
Helpers: ``ports`` (service ports apart per xdist worker), ``schemas`` (payload schema
fixtures), and for the fault suites ``brokers`` (killable brokers), ``stack`` (the whole
service stack as processes), ``load`` (an HTTP load with a ledger), ``outcome`` and
``report`` (sent / acknowledged / dispatched / lost / duplicated of every scenario)."""
