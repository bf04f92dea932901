"""``tidings``: each sub-app lives in its own module and is registered here by one line."""

from __future__ import annotations

import typer

from tidings.cli import schemas, topics

app = typer.Typer(
    name="tidings",
    help="Operate Tidings: topics, schemas, clients, directory, events.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(topics.app, name="topics")
app.add_typer(schemas.app, name="schemas")


def main() -> None:
    app()
