"""Wire contracts every process shares: topics, keys, headers, the Avro codec, state records
and partitioning. Nothing here does I/O."""
