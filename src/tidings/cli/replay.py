"""``tidings replay``: re-drive processing for a tenant (or all), a time range or offsets,
from the events topic or a dump file. Deduplicated unless ``--force-redeliver``; audited."""

from __future__ import annotations

import getpass
import socket
import uuid
from pathlib import Path

import typer

from tidings.cli import output
from tidings.cli.selection import (
    EndOption,
    OffsetsOption,
    StartOption,
    TenantOption,
    TypeOption,
    selection,
)
from tidings.contracts.codec import Codec
from tidings.ops import replay as r
from tidings.ops.replay_select import latest_states, select
from tidings.ops.replay_signer import replay_signer

app = typer.Typer(help="Re-drive processing of selected events (see docs/operations.md).")

AllOption = typer.Option(False, "--all", help="Every tenant (instead of --tenant).")
FileOption = typer.Option(
    None, "--file", exists=True, dir_okay=False, help="A `tidings events dump` file."
)
DryRunOption = typer.Option(False, "--dry-run", help="Count what would be replayed; write none.")
ForceOption = typer.Option(
    False, "--force-redeliver", help="Deliver again, marking every delivery with the replay id."
)
SignerOption = typer.Option(None, "--signer", envvar="TIDINGS_REPLAY_SIGNER_ID")
KeyOption = typer.Option(None, "--signing-key", envvar="TIDINGS_REPLAY_SIGNING_KEY")
ByOption = typer.Option(None, "--by", help="Who is replaying (default user@host).")
ReplayIdOption = typer.Option(None, "--replay-id", help="Default: a new UUID.")


@app.callback(invoke_without_command=True)
def replay(
    tenant: str | None = TenantOption,
    all_tenants: bool = AllOption,
    event_type: str | None = TypeOption,
    start: str | None = StartOption,
    end: str | None = EndOption,
    offsets: list[str] | None = OffsetsOption,
    file: Path | None = FileOption,
    dry_run: bool = DryRunOption,
    force_redeliver: bool = ForceOption,
    signer: str | None = SignerOption,
    signing_key: str | None = KeyOption,
    started_by: str | None = ByOption,
    replay_id: str | None = ReplayIdOption,
    as_json: bool = output.JsonOption,
) -> None:
    """Exit 0 when every selected event was written (or counted), 1 when some were not
    acknowledged, 2 for bad arguments, 3 when the broker is unavailable."""
    if (tenant is None) == (not all_tenants):
        output.fail("give exactly one of --tenant T or --all", output.USAGE)
    settings = output.settings()
    codec = Codec(settings.schemas_dir)
    sel = selection(tenant, start, end, offsets)
    report = r.ReplayReport(
        replay_id=replay_id or str(uuid.uuid4()),
        started_by=started_by or f"{getpass.getuser()}@{socket.gethostname()}",
        range={
            "source": f"file:{file}" if file else "events",
            "tenant": tenant,
            "type": event_type,
            "from_ms": sel.start_ms,
            "to_ms": sel.end_ms,
            "offsets": {str(p): list(span) for p, span in sel.offsets.items()},
        },
        force_redeliver=force_redeliver,
        dry_run=dry_run,
    )
    with output.errors_as_exit_codes():
        candidates = select(settings, codec, sel, event_type=event_type, file=file)
        states = latest_states(settings, codec, {c.tenant for c in candidates})
        chosen = r.plan(report, candidates, states)
        if not dry_run and chosen:
            signer_ = None
            if force_redeliver:
                signer_ = replay_signer(
                    settings, codec, report.replay_id, signer_id=signer, signing_key=signing_key
                )
            with output.progress("replay", len(chosen)) as advance:
                r.write(settings, chosen, report, codec, signer_, advance)
        r.audit(settings, report, codec)
    result = {**report.as_dict(), "would_replay" if dry_run else "planned": len(chosen)}
    if as_json:
        output.print_json(result)
    else:
        output.print_table("replay", ["field", "value"], sorted(result.items()))
    if not dry_run and report.replayed < len(chosen):
        raise typer.Exit(output.FAILED)
