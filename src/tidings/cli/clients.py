"""``tidings clients create|revoke|list``: API credentials in the compacted clients topic.

The secret (and a direct producer's signing key) is printed once, at creation; the topic
keeps only its hash. Revoking writes the client again with ``revoked: true``; every service
tailing the topic refuses it within seconds, no restart needed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from tidings.cli import output
from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.domain.clients import SCOPES, ApiClient, ClientRegistry
from tidings.errors import NotFound
from tidings.kafka.view import replayed
from tidings.ops.admin import create_client
from tidings.settings import Settings
from tidings.stores.clients import clients_view, put_client

app = typer.Typer(help="Create, revoke and list API clients.", no_args_is_help=True)
TimeoutOption = typer.Option(30.0, "--timeout", help="Seconds to wait for the broker.")
ScopeOption = typer.Option(..., "--scope", help=f"Repeatable: {', '.join(SCOPES)}.")
EventTypeOption = typer.Option(
    [], "--event-type", help="Repeatable fnmatch pattern of allowed types (default: all)."
)
OrgOption = typer.Option(
    None, "--org", help="The one organization of the tenant it acts for (default: the tenant)."
)
TargetOption = typer.Option(
    [],
    "--target",
    help="Repeatable KIND[:PATTERN]: users, roles, groups or rules it may use in recipients; "
    "PATTERN (fnmatch) narrows role or group names (default: every kind).",
)


@contextmanager
def registry(settings: Settings, timeout_s: float) -> Iterator[ClientRegistry]:
    """The clients topic replayed into a registry."""
    clients = ClientRegistry()
    view = clients_view(settings, Codec(settings.schemas_dir), clients)
    with replayed(view, Topics(settings).clients.name, timeout_s):
        yield clients


def client_json(client: ApiClient) -> dict[str, Any]:
    """What may be shown of a client: never the secret hash."""
    return {
        "client_id": client.client_id,
        "tenant": client.tenant,
        "scopes": list(client.scopes),
        "event_types": list(client.event_types),
        "rate_per_second": client.rate_per_second,
        "burst": client.burst,
        "signing": client.public_key is not None,
        "revoked": client.revoked,
        "org": client.org,
        "targets": [str(t) for t in client.targets],
    }


@app.command()
def create(
    tenant: str = typer.Option(..., "--tenant", help="The one tenant this client acts for."),
    scope: list[str] = ScopeOption,
    event_type: list[str] = EventTypeOption,
    rate: float | None = typer.Option(None, "--rate", min=0.001, help="Requests per second."),
    burst: int | None = typer.Option(None, "--burst", min=1, help="Burst above the rate."),
    signing_key: bool = typer.Option(
        False, "--signing-key", help="Also create an Ed25519 key for direct Kafka producers."
    ),
    byte_rate: int | None = typer.Option(
        None, "--byte-rate", min=0, help="Kafka producer_byte_rate of a --signing-key client."
    ),
    org: str | None = OrgOption,
    target: list[str] = TargetOption,
    as_json: bool = output.JsonOption,
) -> None:
    """Create a credential; its secret is printed now and never again."""
    settings = output.settings()
    with output.errors_as_exit_codes():
        created = create_client(
            settings,
            tenant,
            scope,
            event_types=event_type,
            rate_per_second=rate,
            burst=burst,
            signing_key=signing_key,
            producer_byte_rate=byte_rate,
            org=org,
            targets=target,
        )
    if as_json:
        output.print_json(created.as_dict())
        return
    output.out.print(f"client_id: {created.client.client_id}", highlight=False)
    output.out.print(f"tenant:    {tenant}", highlight=False)
    output.out.print(f"scopes:    {', '.join(created.client.scopes)}", highlight=False)
    output.out.print(f"org:       {org or '(whole tenant)'}", highlight=False, markup=False)
    targets = " ".join(str(t) for t in created.client.targets) or "(every kind)"
    output.out.print(f"targets:   {targets}", highlight=False, markup=False)
    output.out.print(f"secret:    {created.secret}", highlight=False, markup=False)
    if created.signing_key is not None:
        output.out.print(f"signing_key: {created.signing_key}", highlight=False, markup=False)
    output.err.print("The secret is shown once; store it now.")


@app.command()
def revoke(
    client_id: str = typer.Argument(..., help="The client to revoke."),
    timeout: float = TimeoutOption,
    as_json: bool = output.JsonOption,
) -> None:
    """Revoke a client: refused by every service within seconds, without a restart."""
    settings = output.settings()
    with output.errors_as_exit_codes():
        with registry(settings, timeout) as clients:
            current = clients.get(client_id)
        if current is None:
            raise NotFound(f"no client {client_id!r}")
        revoked = dataclasses.replace(current, revoked=True)
        put_client(settings, revoked)
    if as_json:
        output.print_json(client_json(revoked))
    else:
        output.out.print(f"revoked {client_id}", highlight=False)


@app.command("list")
def list_(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's clients."),
    timeout: float = TimeoutOption,
    as_json: bool = output.JsonOption,
) -> None:
    """Every client (secrets are never shown; they are not stored)."""
    settings = output.settings()
    with output.errors_as_exit_codes(), registry(settings, timeout) as clients:
        found = [c for c in clients.all() if tenant is None or c.tenant == tenant]
    rows = [client_json(c) for c in found]
    if as_json:
        output.print_json(rows)
        return
    output.print_table(
        "clients",
        [
            "client_id",
            "tenant",
            "org",
            "scopes",
            "event_types",
            "targets",
            "rate",
            "burst",
            "revoked",
        ],
        [
            (
                r["client_id"],
                r["tenant"],
                r["org"] or "*",
                " ".join(r["scopes"]),
                " ".join(r["event_types"]) or "*",
                " ".join(r["targets"]) or "*",
                r["rate_per_second"],
                r["burst"],
                r["revoked"],
            )
            for r in rows
        ],
    )
