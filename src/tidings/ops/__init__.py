"""Operator tooling used only by the CLI: scans, trace, replay, rebuild, bulk writes and the
console-tool line format. No service imports it."""
