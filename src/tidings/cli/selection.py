"""Options shared by commands that select records: tenant, type, time range, offsets."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from tidings.cli import output
from tidings.ops.scan import Selection

TenantOption = typer.Option(None, "--tenant", help="Only this tenant's records.")
TypeOption = typer.Option(None, "--type", help="Only this event type.")
StartOption = typer.Option(None, "--from", help="ISO-8601 time or epoch ms (inclusive).")
EndOption = typer.Option(None, "--to", help="ISO-8601 time or epoch ms (inclusive).")
OffsetsOption = typer.Option(
    None, "--offsets", help="PARTITION:FIRST-LAST (inclusive); repeat for more partitions."
)


def parse_time(text: str | None) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        output.fail(f"not a time: {text!r}", output.USAGE)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_offsets(specs: list[str] | None) -> dict[int, tuple[int, int]]:
    out: dict[int, tuple[int, int]] = {}
    for spec in specs or []:
        try:
            partition, _, span = spec.partition(":")
            first, _, last = span.partition("-")
            out[int(partition)] = (int(first), int(last))
        except ValueError:
            output.fail(f"--offsets wants PARTITION:FIRST-LAST, got {spec!r}", output.USAGE)
    return out


def selection(
    tenant: str | None, start: str | None, end: str | None, offsets: list[str] | None
) -> Selection:
    return Selection(tenant, parse_time(start), parse_time(end), parse_offsets(offsets))
