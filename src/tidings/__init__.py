"""Tidings: the shared core of the notification pipeline (settings, contracts, codec, Kafka)."""

__version__ = "0.1.0"
