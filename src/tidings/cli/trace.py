"""``tidings trace EVENT_ID``: the event, its states in order, its chunks and deliveries.

``--org ORG`` traces it only if a client of ORG created it (as ``tidings events … --org``
attributes records, ``cli/org_filter.py``); another organization's event is not found, as
the API answers 404 for it."""

from __future__ import annotations

import typer

from tidings.cli import output
from tidings.cli.org_filter import OrgFilter
from tidings.contracts.codec import Codec
from tidings.errors import NotFound
from tidings.ops.trace import trace as trace_event

app = typer.Typer(
    help="Follow one event through every topic.",
    # A single command on a group: options may follow the EVENT_ID argument.
    context_settings={"allow_interspersed_args": True},
)

EventIdArg = typer.Argument(..., help="The event id (as returned by the API or the library).")
TenantOption = typer.Option(None, "--tenant", help="Read only this tenant's partitions (faster).")
OrgOption = typer.Option(
    None, "--org", help="Only if a client of this organization created the event (else exit 1)."
)


@app.callback(invoke_without_command=True)
def trace(
    event_id: str = EventIdArg,
    tenant: str | None = TenantOption,
    org: str | None = OrgOption,
    as_json: bool = output.JsonOption,
) -> None:
    """Exit 0 when found, 1 when no such event is on the events topic (or, with ``--org``,
    none created by that organization)."""
    settings = output.settings()
    codec = Codec(settings.schemas_dir)
    orgs = OrgFilter(settings, codec, "event", org) if org else None
    with output.errors_as_exit_codes():
        found = trace_event(settings, codec, event_id, tenant)
        if orgs is not None and orgs.org_of(found["events"][0]["value"] or {}) != org:
            raise NotFound(f"no event {event_id} of organization {org}")
    if as_json:
        output.print_json(found)
        return
    rows: list[tuple[object, ...]] = []
    for section in ("events", "states", "retries", "resolved", "deliveries", "dead_letters"):
        for rec in found[section]:
            value = rec["value"] or {}
            what = value.get("stage") or value.get("channel") or value.get("type") or ""
            extra = value.get("user_id") or value.get("chunk") or value.get("error_class") or ""
            rows.append((section, rec["topic"], rec["partition"], rec["offset"], what, extra))
    output.print_table(f"trace {event_id}", ["kind", "topic", "p", "offset", "what", ""], rows)
