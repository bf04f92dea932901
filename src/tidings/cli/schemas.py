"""``tidings schemas register|check|list``: the payload schema registry on the schemas topic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from tidings.cli import output
from tidings.contracts.schema_files import load_json
from tidings.contracts.topics import Topics
from tidings.domain.compatibility import Compatibility
from tidings.domain.payload_schemas import PayloadSchema, PayloadSchemas, bundled_payload_schemas
from tidings.errors import SchemaIncompatible
from tidings.kafka.view import replayed
from tidings.settings import Settings
from tidings.stores.schemas import SchemaRegistry

app = typer.Typer(help="Register, check and list payload schemas.", no_args_is_help=True)

FileOption = typer.Option(None, "--file", exists=True, dir_okay=False, help="An .avsc file.")
TypeOption = typer.Option(None, "--type", help="Event type, e.g. content.approved.")
VersionOption = typer.Option(None, "--version", min=1, help="Schema version of the type.")
ModeOption = typer.Option(Compatibility.BACKWARD, "--compatibility", case_sensitive=False)
TimeoutOption = typer.Option(30.0, "--timeout", help="Seconds to wait for the broker.")


@contextmanager
def registry(settings: Settings, timeout_s: float) -> Iterator[SchemaRegistry]:
    """A registry that has replayed the schemas topic, stopped afterwards."""
    with replayed(SchemaRegistry(settings), Topics(settings).schemas.name, timeout_s) as reg:
        yield reg


def schema_json(schema: PayloadSchema, **extra: object) -> dict[str, object]:
    return {
        "type": schema.type,
        "version": schema.version,
        "fingerprint": schema.fingerprint,
        **extra,
    }


def _candidate(
    file: Path | None, type_: str | None, version: int | None
) -> tuple[str, int, dict[str, Any]]:
    if file is None or type_ is None or version is None:
        output.fail("give --file, --type and --version (or --bundled)", output.USAGE)
    return type_, version, load_json(file)


@app.command()
def register(
    file: Path | None = FileOption,
    type_: str | None = TypeOption,
    version: int | None = VersionOption,
    bundled: bool = typer.Option(False, "--bundled", help="Every schema in schemas/payloads."),
    mode: Compatibility = ModeOption,
    timeout: float = TimeoutOption,
    as_json: bool = output.JsonOption,
) -> None:
    """Register a version after its compatibility check; identical re-registration is a no-op."""
    settings = output.settings()
    target = None if bundled else _candidate(file, type_, version)
    with output.errors_as_exit_codes(), registry(settings, timeout) as reg:
        done = [reg.register(*target, mode, timeout)] if target else reg.register_bundled()
    rows = [schema_json(r.schema, created=r.created) for r in done]
    if as_json:
        output.print_json(rows)
        return
    output.print_table(
        "schemas register",
        ["type", "version", "fingerprint", "result"],
        [
            (r["type"], r["version"], r["fingerprint"], "registered" if r["created"] else "same")
            for r in rows
        ],
    )


@app.command()
def check(
    file: Path | None = FileOption,
    type_: str | None = TypeOption,
    version: int | None = VersionOption,
    mode: Compatibility = ModeOption,
    offline: bool = typer.Option(
        False, "--offline", help="Check against the bundled schemas/ files, not the topic."
    ),
    timeout: float = TimeoutOption,
    as_json: bool = output.JsonOption,
) -> None:
    """Would this version be accepted? Exit 1 with the reasons if not; registers nothing."""
    settings = output.settings()
    type_, version, schema = _candidate(file, type_, version)
    problems: list[str] = []
    with output.errors_as_exit_codes():
        try:
            if offline:
                known = PayloadSchemas(bundled_payload_schemas(settings.schemas_dir))
                known.check_candidate(type_, version, schema, mode)
            else:
                with registry(settings, timeout) as reg:
                    reg.schemas.check_candidate(type_, version, schema, mode)
        except SchemaIncompatible as exc:
            problems = [exc.detail, *(e.message for e in exc.errors)]
    result = {"type": type_, "version": version, "compatible": not problems, "problems": problems}
    if as_json:
        output.print_json(result)
    elif not problems:
        output.out.print(f"{type_} v{version} is {mode.value} compatible")
    if problems:
        if as_json:
            raise typer.Exit(output.FAILED)
        output.fail(problems[0], output.FAILED, details=problems[1:])


@app.command("list")
def list_(timeout: float = TimeoutOption, as_json: bool = output.JsonOption) -> None:
    """Every registered type and version with its fingerprint."""
    settings = output.settings()
    with output.errors_as_exit_codes(), registry(settings, timeout) as reg:
        found = [
            reg.schemas.resolve(type_, version)
            for type_, versions in reg.schemas.types().items()
            for version in versions
        ]
    if as_json:
        output.print_json([schema_json(s) for s in found])
        return
    output.print_table(
        "schemas",
        ["type", "version", "fingerprint"],
        [(s.type, s.version, s.fingerprint) for s in found],
    )
