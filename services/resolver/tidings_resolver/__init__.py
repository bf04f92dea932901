"""The resolver: events → recipients at processing time → resolved chunks (docs/processing.md)."""
