"""Machinery shared by the resolver and fan-out: the transactional loop, state restore,
dead letters, and the per-service health and metrics endpoint (docs/processing.md)."""
