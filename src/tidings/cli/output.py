"""What every sub-command shares: JSON or table output, exit codes, errors, progress."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tidings.errors import TidingsError
from tidings.kafka.errors import KafkaException, translate_kafka_error
from tidings.logs import configure_logging
from tidings.settings import Settings

OK = 0
FAILED = 1  # the command ran and the answer is "no" (e.g. an incompatible schema)
USAGE = 2  # typer's own code for bad arguments
UNAVAILABLE = 3  # the broker did not answer in time

JsonOption = typer.Option(False, "--json", help="Print one JSON document instead of a table.")

out = Console()
err = Console(stderr=True)


def settings() -> Settings:
    """Settings from the environment; logs stay quiet unless TIDINGS_LOG_LEVEL says otherwise."""
    current = Settings()
    level = current.log_level if "TIDINGS_LOG_LEVEL" in os.environ else "WARNING"
    configure_logging(level, service="cli")
    return current


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
    sys.stdout.write("\n")
    sys.stdout.flush()


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    out.print(table)


def fail(message: str, code: int = FAILED, *, details: Sequence[str] = ()) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    for line in details:
        err.print(f"  - {line}", highlight=False, markup=False)
    raise typer.Exit(code)


@contextmanager
def errors_as_exit_codes() -> Iterator[None]:
    """Our errors become a message and an exit code, never a traceback."""
    try:
        yield
    except KafkaException as raw:
        exc = translate_kafka_error(raw)
        fail(exc.detail, UNAVAILABLE if exc.retriable else FAILED)
    except TidingsError as exc:
        code = UNAVAILABLE if exc.retriable else FAILED
        fail(exc.detail, code, details=[f"{e.path}: {e.message}" for e in exc.errors])


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A bar on stderr (stdout stays clean for ``--json``); yields ``advance(n)``."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance
