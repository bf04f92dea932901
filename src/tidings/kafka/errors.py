"""librdkafka error codes translated in one place."""

from __future__ import annotations

from confluent_kafka import KafkaError
from confluent_kafka import KafkaException as KafkaException  # re-exported: callers catch it

from tidings.errors import TidingsError, Unavailable

# Codes after which the write's outcome is unknown or the cluster is briefly unable to take it.
_UNAVAILABLE = {
    KafkaError._MSG_TIMED_OUT,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._QUEUE_FULL,
    KafkaError.NOT_ENOUGH_REPLICAS,
    KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NETWORK_EXCEPTION,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
    KafkaError._TIMED_OUT_QUEUE,
}
# The topic or partition is not in the metadata (deleted, being recreated, not created yet):
# librdkafka fails a queued write at once instead of timing it out. Nothing was written, and
# the same write succeeds once the topic is back.
_MISSING = {
    KafkaError._UNKNOWN_PARTITION,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
}


class KafkaFailure(TidingsError):
    """A broker error that is not plainly 'unavailable'; internal, shown to clients as 500."""

    code, status, title = "internal_error", 500, "Internal error"

    def __init__(self, detail: str, *, retriable: bool, fatal: bool = False) -> None:
        super().__init__(detail)
        self.retriable = retriable
        self.fatal = fatal


def kafka_error_of(exc: BaseException) -> KafkaError | None:
    """The librdkafka error a ``KafkaException`` carries (None for anything else)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def translate_kafka_error(error: KafkaError | KafkaException | BaseException) -> TidingsError:
    """Map a librdkafka error to our hierarchy; the original text stays in logs, not responses."""
    if not isinstance(error, KafkaError):
        unwrapped = kafka_error_of(error)
        if unwrapped is None:
            return KafkaFailure(type(error).__name__, retriable=False)
        error = unwrapped
    if error.code() in _MISSING:
        return Unavailable("the event store cannot take this write now (a partition is missing)")
    if error.code() in _UNAVAILABLE or error.retriable():
        return Unavailable("the event store did not confirm the write in time")
    return KafkaFailure(error.name(), retriable=error.retriable(), fatal=error.fatal())
