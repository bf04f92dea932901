"""One module per scenario (B0 … B7); bench.run runs them in order, B8 is bench.check."""
