"""``tidings``: each sub-app lives in its own module and is registered here by one line."""

from __future__ import annotations

import typer

from tidings.cli import (
    clients,
    demo,
    directory,
    events,
    replay,
    schemas,
    state,
    status,
    topics,
    trace,
)

app = typer.Typer(
    name="tidings",
    help="Operate Tidings: topics, schemas, clients, directory, events.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(topics.app, name="topics")
app.add_typer(schemas.app, name="schemas")
app.add_typer(events.app, name="events")
app.add_typer(trace.app, name="trace")
app.add_typer(replay.app, name="replay")
app.add_typer(state.app, name="state")
app.add_typer(directory.app, name="directory")
app.add_typer(clients.app, name="clients")
app.add_typer(demo.app, name="demo")
app.command(name="status")(status.status)


def main() -> None:
    app()
