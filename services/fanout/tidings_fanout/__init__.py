"""Fan-out: resolved chunks to one delivery request per recipient and channel.

See docs/processing.md.
"""
