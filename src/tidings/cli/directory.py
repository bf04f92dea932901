"""``tidings directory load FILE`` and ``tidings directory export``: the compacted directory
topic is the source of truth; files are JSON Lines (one user a line, README)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from itertools import islice
from pathlib import Path

import orjson
import typer

from tidings.cli import output
from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.domain.directory import Directory
from tidings.kafka.view import replayed
from tidings.ops.admin import load_directory, parse_directory_lines
from tidings.stores.directory import directory_view

app = typer.Typer(help="Load and export the tenant directory.", no_args_is_help=True)
BATCH = 5_000
FileArgument = typer.Argument(..., exists=True, dir_okay=False, help="JSON Lines file")
TenantOption = typer.Option(None, "--tenant", help="Only this tenant's users.")
TimeoutOption = typer.Option(60.0, "--timeout", help="Seconds to read the topic.")


@app.command()
def load(
    file: Path = FileArgument,
    as_json: bool = output.JsonOption,
) -> None:
    """Validate every line, then write users (and tombstones for deleted ones) in batches."""
    settings = output.settings()
    started = time.monotonic()
    lines = file.read_bytes().splitlines()
    with output.errors_as_exit_codes():
        entries = list(parse_directory_lines(lines))  # a bad file changes nothing
        tenants: Counter[str] = Counter(key.split("/", 1)[0] for _, _, key in entries)
        deleted = sum(1 for _, user, _ in entries if user is None)
        numbers = [number for number, _, _ in entries]
        with output.progress("loading directory", len(entries)) as advance:
            it = iter(numbers)
            while batch := list(islice(it, BATCH)):
                load_directory(settings, (lines[n - 1] for n in batch))
                advance(len(batch))
    summary = {
        "file": str(file),
        "records": len(entries),
        "users": len(entries) - deleted,
        "deleted": deleted,
        "tenants": dict(sorted(tenants.items())),
        "seconds": round(time.monotonic() - started, 3),
    }
    if as_json:
        output.print_json(summary)
        return
    output.print_table(
        f"directory load: {summary['records']} records in {summary['seconds']}s",
        ["tenant", "records"],
        sorted(tenants.items()),
    )


@app.command()
def export(
    tenant: str | None = TenantOption,
    timeout_s: float = TimeoutOption,
) -> None:
    """Print the directory as it is now, as JSON Lines (the format ``load`` reads)."""
    settings = output.settings()
    directory = Directory()
    view = directory_view(settings, Codec(settings.schemas_dir), directory)
    with output.errors_as_exit_codes(), replayed(view, Topics(settings).directory.name, timeout_s):
        pass  # replayed once: exported as it is now
    for name in [tenant] if tenant else directory.tenants():
        for user in sorted(directory.users(name), key=lambda u: u.id):
            sys.stdout.write(orjson.dumps(user.to_record()).decode() + "\n")
    sys.stdout.flush()
