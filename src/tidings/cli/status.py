"""``tidings status``: is the pipeline keeping up? Consumer groups, lag, rates, ingest readiness."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import typer

from tidings.cli import output
from tidings.kafka.groups import RATE_WINDOW_S, GroupStatus, group_status, pipeline_groups

DEFAULT_INGEST = ["http://127.0.0.1:8080"]
IngestOption = typer.Option(
    DEFAULT_INGEST, "--ingest", help="Base URL of an ingest process (repeatable)."
)
WindowOption = typer.Option(
    RATE_WINDOW_S,
    "--window",
    min=1.0,
    help="Events/s in and out over the last this many seconds (read from the broker at once).",
)


def probe(url: str, timeout_s: float = 2.0) -> dict[str, Any]:
    """``GET {url}/readyz``: ready only on 200."""
    target = url.rstrip("/") + "/readyz"
    if not target.startswith(("http://", "https://")):
        return {"url": url, "ready": False, "status": None, "detail": "not an http(s) URL"}
    try:
        with urllib.request.urlopen(target, timeout=timeout_s) as r:  # noqa: S310 (checked above)
            return {"url": url, "ready": r.status == 200, "status": r.status, "detail": ""}
    except urllib.error.HTTPError as exc:
        return {"url": url, "ready": False, "status": exc.code, "detail": exc.reason}
    except OSError as exc:
        return {"url": url, "ready": False, "status": None, "detail": str(exc)}


def group_json(service: str, status: GroupStatus) -> dict[str, Any]:
    return {
        "service": service,
        "group": status.group,
        "state": status.state,
        "members": [
            {
                "client_id": m.client_id,
                "host": m.host,
                "partitions": [f"{t}:{p}" for t, p in m.partitions],
            }
            for m in status.members
        ],
        "partitions": [
            {
                "topic": p.topic,
                "partition": p.partition,
                "committed": p.committed,
                "end": p.end,
                "lag": p.lag,
                "oldest_age_s": None
                if p.oldest_ms is None
                else round(max(0.0, (status.now_ms - p.oldest_ms) / 1000), 3),
            }
            for p in status.partitions
        ],
        "lag": status.lag,
        "in_per_s": round(status.in_per_s, 3),
        "out_per_s": round(status.out_per_s, 3),
        "rate_window_s": round(status.window_s, 3),
        "oldest_age_s": None if status.oldest_age_s is None else round(status.oldest_age_s, 3),
    }


def status(
    ingest: list[str] = IngestOption,
    window: float = WindowOption,
    as_json: bool = output.JsonOption,
) -> None:
    """Per service group: state, members, lag, events/s in and out, oldest unprocessed age."""
    settings = output.settings()
    groups = pipeline_groups(settings)
    service = {g.group: g.service for g in groups}
    with output.errors_as_exit_codes():
        statuses = group_status(settings, groups, window)
    report = {
        "groups": [group_json(service[s.group], s) for s in statuses],
        "ingest": [probe(url) for url in ingest],
    }
    if as_json:
        output.print_json(report)
        return
    rows = [
        (
            g["service"],
            g["state"],
            len(g["members"]),
            g["lag"],
            g["in_per_s"],
            g["out_per_s"],
            g["oldest_age_s"],
        )
        for g in report["groups"]
    ]
    per_s = f"/s ({window:g} s)"
    columns = ["service", "state", "members", "lag", f"in{per_s}", f"out{per_s}", "oldest age (s)"]
    output.print_table("consumer groups", columns, rows)
    members = [
        (g["service"], m["client_id"], m["host"], ", ".join(m["partitions"]))
        for g in report["groups"]
        for m in g["members"]
    ]
    if members:
        output.print_table("members", ["service", "client id", "host", "partitions"], members)
    lagging = [
        (
            g["service"],
            p["topic"],
            p["partition"],
            p["committed"],
            p["end"],
            p["lag"],
            p["oldest_age_s"],
        )
        for g in report["groups"]
        for p in g["partitions"]
        if p["lag"] > 0
    ]
    if lagging:
        output.print_table(
            "lagging partitions",
            ["service", "topic", "partition", "committed", "end", "lag", "oldest age (s)"],
            lagging,
        )
    probes = [
        (p["url"], "ready" if p["ready"] else "NOT READY", p["status"], p["detail"])
        for p in report["ingest"]
    ]
    output.print_table("ingest /readyz", ["url", "ready", "status", "detail"], probes)
