"""The one small Kafka layer: client configuration, error translation, admin, producers, views."""
