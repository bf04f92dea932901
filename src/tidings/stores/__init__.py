"""Derived state: views of the compacted topics (directory, clients, schemas, processing
state) and the writers of their records."""
