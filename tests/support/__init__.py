"""Shared test support for fault, security and hostile-input suites: killable brokers, the
whole service stack as processes, an HTTP load generator with a ledger, and the outcome check
(sent / acknowledged / dispatched / lost / duplicated) every fault scenario reports."""
