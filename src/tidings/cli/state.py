"""``tidings state rebuild``: derive processing state from the log and write what is missing."""

from __future__ import annotations

import typer

from tidings.cli import output
from tidings.contracts.codec import Codec
from tidings.ops.rebuild import plan_rebuild, write_states

app = typer.Typer(help="Processing state: rebuild it from the events log.", no_args_is_help=True)

TenantOption = typer.Option(None, "--tenant", help="Only this tenant (default: all).")
DryRunOption = typer.Option(False, "--dry-run", help="Report what would be written; write none.")


@app.command()
def rebuild(
    tenant: str | None = TenantOption,
    dry_run: bool = DryRunOption,
    as_json: bool = output.JsonOption,
) -> None:
    """Write a state record for every event whose derived state is newer than the state
    topic's (never backwards; a second run writes nothing). Exit 1 if a write failed."""
    settings = output.settings()
    codec = Codec(settings.schemas_dir)
    with output.errors_as_exit_codes():
        records = plan_rebuild(settings, codec, tenant)
        written = 0
        if records and not dry_run:
            with output.progress("state rebuild", len(records)) as advance:
                written = write_states(settings, codec, records, advance)
    by_stage: dict[str, int] = {}
    for rec in records:
        by_stage[rec["stage"]] = by_stage.get(rec["stage"], 0) + 1
    result = {"planned": len(records), "written": written, "dry_run": dry_run, "by_stage": by_stage}
    if as_json:
        output.print_json(result)
    else:
        output.print_table("state rebuild", ["field", "value"], sorted(result.items()))
    if not dry_run and written < len(records):
        raise typer.Exit(output.FAILED)
