"""``tidings demo seed``: a demo tenant with a directory and a client, and a curl that works.

``make run`` / ``make up`` call it after the topics and schemas exist. A second tenant
(``other``) with look-alike users shows isolation: its users can never be reached from ``demo``.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import orjson
import typer

from tidings.cli import output
from tidings.domain.clients import SCOPE_READ, SCOPE_WRITE
from tidings.ops.admin import create_client, load_directory

app = typer.Typer(help="Seed a demo tenant and print a working curl.", no_args_is_help=True)
DEMO_DIRECTORY = Path(__file__).resolve().parents[3] / "infra" / "demo" / "directory.jsonl"
EXAMPLE = {
    "type": "content.approved",
    "recipients": {
        "users": ["u-1"],
        "roles": ["reviewer"],
        "rules": [{"attribute": "locale", "equals": "de"}],
    },
    "payload": {"content_id": "c-42", "title": "Quarterly report"},
    "source": {"reference": "cms/c-42"},
}


DirectoryOption = typer.Option(DEMO_DIRECTORY, "--directory", help="JSON Lines directory file.")
OutOption = typer.Option(None, "--out", help="Also write the result as JSON here.")


def curl_for(url: str, secret: str) -> str:
    body = orjson.dumps(EXAMPLE).decode()
    return (
        f"curl -si -X POST {url}/api/v1/notifications "
        f"-H {shlex.quote('Authorization: Bearer ' + secret)} "
        f"-H 'Content-Type: application/json' -H 'Idempotency-Key: demo-1' "
        f"-d {shlex.quote(body)}"
    )


@app.command()
def seed(
    tenant: str = typer.Option("demo", "--tenant", help="Tenant of the demo client."),
    directory: Path = DirectoryOption,
    url: str = typer.Option("http://127.0.0.1:8080", "--url", help="Where ingest listens."),
    out_file: Path | None = OutOption,
    as_json: bool = output.JsonOption,
) -> None:
    """Load the demo directory, create a read/write client, print a curl that posts an event."""
    settings = output.settings()
    with output.errors_as_exit_codes():
        users = load_directory(settings, directory.read_text().splitlines())
        created = create_client(settings, tenant, [SCOPE_WRITE, SCOPE_READ])
    result = {
        **created.as_dict(),
        "directory_records": users,
        "curl": curl_for(url, created.secret),
    }
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        out_file.chmod(0o600)
    if as_json:
        output.print_json(result)
        return
    output.out.print(f"directory: {users} records from {directory}", highlight=False)
    output.out.print(f"client {created.client.client_id} for tenant {tenant}", highlight=False)
    output.out.print(result["curl"], highlight=False, markup=False, soft_wrap=True)
