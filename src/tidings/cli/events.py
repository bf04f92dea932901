"""``tidings events tail|dump|sign``: read any project topic as JSON Lines; write re-injectable
events for the stock console producer."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tidings.cli import output
from tidings.cli.org_filter import OrgFilter
from tidings.cli.selection import (
    EndOption,
    OffsetsOption,
    StartOption,
    TenantOption,
    TypeOption,
    selection,
)
from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics, TopicSpec, tenant_of_key
from tidings.kafka.records import RawRecord
from tidings.ops.event_sign import sign_avro_json
from tidings.ops.records_json import console_line, json_line
from tidings.ops.scan import Selection, follow, scan
from tidings.settings import Settings

app = typer.Typer(help="Decode, dump and sign records of project topics.", no_args_is_help=True)

TopicArg = typer.Argument("events", help="Topic without prefix (events, state, deliveries.email…).")
FromBeginningOption = typer.Option(False, "--from-beginning")
MaxOption = typer.Option(None, "--max", min=1, help="Stop after N records.")
OutputOption = typer.Option(None, "--output", "-o", help="File (default stdout).")
FormatOption = typer.Option("console", "--format", help="console (re-injectable) or jsonl.")
SignFileArg = typer.Argument(..., exists=True, dir_okay=False, help="Avro JSON event(s).")
SignerOption = typer.Option(..., "--signer", envvar="TIDINGS_SIGNER_ID", help="Client id.")
OrgOption = typer.Option(
    None, "--org", help="Only events created by clients of this organization (events, state)."
)
SigningKeyOption = typer.Option(
    ..., "--signing-key", envvar="TIDINGS_SIGNING_KEY", help="Base64 Ed25519 private key."
)


def topic_spec(settings: Settings, name: str) -> TopicSpec:
    topics = Topics(settings)
    spec = topics.by_name(name) or topics.by_name(settings.topic_prefix + name)
    if spec is None:
        output.fail(f"unknown topic {name!r}", output.USAGE)
    return spec


def keep(raw: RawRecord, sel: Selection, event_type: str | None) -> bool:
    """Filters on key and headers only: records that do not decode are still shown."""
    if sel.tenant is not None and tenant_of_key(raw.key) != sel.tenant:
        return False
    if event_type is not None and dict(raw.headers).get(h.EVENT_TYPE) != event_type.encode():
        return False
    if sel.start_ms is not None and raw.timestamp < sel.start_ms:
        return False
    return sel.end_ms is None or raw.timestamp <= sel.end_ms


@app.command()
def tail(
    topic: str = TopicArg,
    tenant: str | None = TenantOption,
    event_type: str | None = TypeOption,
    from_beginning: bool = FromBeginningOption,
    max_records: int | None = MaxOption,
    org: str | None = OrgOption,
) -> None:
    """Follow a topic, one JSON object per record (partition, offset, timestamp, key, headers)."""
    settings = output.settings()
    spec, codec = topic_spec(settings, topic), Codec(settings.schemas_dir)
    sel = Selection(tenant=tenant)
    orgs = OrgFilter(settings, codec, spec.record, org) if org else None
    shown = 0
    with output.errors_as_exit_codes():
        for raw in follow(settings, spec.name, from_beginning):
            if keep(raw, sel, event_type) and (orgs is None or orgs.keep(raw)):
                print(json_line(raw, codec, spec.record), flush=True)
                shown += 1
                if max_records is not None and shown >= max_records:
                    return


@app.command()
def dump(
    topic: str = TopicArg,
    out_file: Path | None = OutputOption,
    fmt: str = FormatOption,
    tenant: str | None = TenantOption,
    event_type: str | None = TypeOption,
    start: str | None = StartOption,
    end: str | None = EndOption,
    offsets: list[str] | None = OffsetsOption,
    org: str | None = OrgOption,
) -> None:
    """Write the selected records up to now. ``console`` lines are what
    ``kafka-console-producer --property parse.key=true --property parse.headers=true`` and
    ``tidings replay --file`` read; ``jsonl`` is the ``tail`` format."""
    if fmt not in ("console", "jsonl"):
        output.fail("--format is console or jsonl", output.USAGE)
    settings = output.settings()
    spec, codec = topic_spec(settings, topic), Codec(settings.schemas_dir)
    sel = selection(tenant, start, end, offsets)
    if fmt == "console" and spec.record is None:
        output.fail("this topic has no record schema; use --format jsonl", output.USAGE)
    orgs = OrgFilter(settings, codec, spec.record, org) if org else None
    written = 0
    sink = out_file.open("w", encoding="utf-8") if out_file else sys.stdout
    try:
        with output.errors_as_exit_codes(), output.progress(f"dump {spec.name}", None) as advance:
            for raw in scan(settings, spec.name, sel):
                if not keep(raw, sel, event_type) or (orgs is not None and not orgs.keep(raw)):
                    continue
                line = (
                    json_line(raw, codec, spec.record)
                    if fmt == "jsonl"
                    else (console_line(raw, codec, spec.record or ""))
                )
                sink.write(line + "\n")
                written += 1
                advance(1)
    finally:
        if out_file:
            sink.close()
    output.err.print(f"{written} records", highlight=False)


@app.command()
def sign(
    file: Path = SignFileArg,
    signer: str = SignerOption,
    signing_key: str = SigningKeyOption,
) -> None:
    """Sign hand-written Avro JSON events (one per line) for console re-injection: prints
    console-producer lines (headers, key, value) carrying the signature."""
    codec = Codec(output.settings().schemas_dir)
    with output.errors_as_exit_codes():
        for text in file.read_text(encoding="utf-8").splitlines():
            if text.strip():
                print(sign_avro_json(codec, text, signer, signing_key))
