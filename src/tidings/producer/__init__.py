"""The producer library for internal systems: same validation, encoding, ids and proof of
origin as the HTTP endpoint, written straight to the events topic (README "Producer library")."""

from tidings.producer.acks import Ack
from tidings.producer.aio import AsyncNotificationProducer
from tidings.producer.prepare import EventPreparer, PreparedEvent
from tidings.producer.sync import NotificationProducer

__all__ = [
    "Ack",
    "AsyncNotificationProducer",
    "EventPreparer",
    "NotificationProducer",
    "PreparedEvent",
]
