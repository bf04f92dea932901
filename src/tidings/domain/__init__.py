"""The domain: requests and envelopes, recipient rules, the directory, clients, payload
schemas, proof of origin. Pure logic; no Kafka client is imported here."""
