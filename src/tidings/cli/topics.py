"""``tidings topics ensure|describe``: provisioning through the AdminClient."""

from __future__ import annotations

import typer

from tidings.cli import output
from tidings.kafka.admin import EnsureReport, describe_topics, ensure_topics

app = typer.Typer(help="Provision and inspect the project's topics.", no_args_is_help=True)


def report_json(report: EnsureReport) -> dict[str, object]:
    return {
        "created": sorted(report.created),
        "reconfigured": {
            topic: {key: {"was": was, "now": now} for key, (was, now) in drift.items()}
            for topic, drift in sorted(report.reconfigured.items())
        },
        "repartitioned": {
            topic: {"was": was, "now": now}
            for topic, (was, now) in sorted(report.repartitioned.items())
        },
        "unchanged": sorted(report.unchanged),
        "changed": report.changed,
    }


@app.command()
def ensure(as_json: bool = output.JsonOption) -> None:
    """Create missing topics, grow partitions, correct configuration drift; report each."""
    settings = output.settings()
    with output.errors_as_exit_codes():
        report = ensure_topics(settings)
    if as_json:
        output.print_json(report_json(report))
        return
    rows: list[tuple[str, str, str]] = [(name, "created", "") for name in report.created]
    for name, drift in report.reconfigured.items():
        rows += [(name, "reconfigured", f"{k}: {was} -> {now}") for k, (was, now) in drift.items()]
    rows += [
        (name, "repartitioned", f"{was} -> {now}")
        for name, (was, now) in report.repartitioned.items()
    ]
    rows += [(name, "unchanged", "") for name in report.unchanged]
    output.print_table("topics ensure", ["topic", "action", "detail"], sorted(rows))


@app.command()
def describe(as_json: bool = output.JsonOption) -> None:
    """Partitions and effective configuration of every project topic that exists."""
    settings = output.settings()
    with output.errors_as_exit_codes():
        described = describe_topics(settings)
    if as_json:
        output.print_json(described)
        return
    rows = [
        (name, info["partitions"], ", ".join(f"{k}={v}" for k, v in sorted(config.items())))
        for name, info in sorted(described.items())
        for config in [info["config"]]
        if isinstance(config, dict)
    ]
    output.print_table("topics", ["topic", "partitions", "config"], rows)
