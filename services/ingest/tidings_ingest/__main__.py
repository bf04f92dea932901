"""``tidings-ingest``: serve the API with uvicorn on TIDINGS_INGEST__HOST/PORT.

uvicorn handles SIGTERM/SIGINT: it stops accepting, lets in-flight requests finish (their
commits included), then the lifespan shutdown commits what is queued and closes the producer.
With TIDINGS_INGEST__WORKERS=N, uvicorn binds the port once and spawns N processes that
accept on it; each builds its app from ``worker_app``, so each claims an instance id (and
commit lanes, and a signing identity) of its own.
"""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette

from tidings.instance_id import assign_instance
from tidings.logs import configure_logging, get_logger
from tidings.settings import get_settings
from tidings.tracing import configure_tracing
from tidings_ingest.app import create_app


def worker_app() -> Starlette:
    """The app of one serving process (uvicorn's factory; called in every worker)."""
    settings = assign_instance(get_settings(), "ingest")
    configure_logging(settings.log_level, service="ingest")
    configure_tracing(settings, "ingest")  # per worker process: a provider of its own
    get_logger(__name__).info("ingest_worker", instance_id=settings.ingest.instance_id)
    return create_app(settings)


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, service="ingest")
    get_logger(__name__).info(
        "ingest_starting",
        host=settings.ingest.host,
        port=settings.ingest.port,
        workers=settings.ingest.workers,
        topic_prefix=settings.topic_prefix,
    )
    uvicorn.run(
        "tidings_ingest.__main__:worker_app",
        factory=True,
        workers=settings.ingest.workers,
        timeout_worker_healthcheck=settings.ingest.worker_healthcheck_s,
        host=settings.ingest.host,
        port=settings.ingest.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.ingest.shutdown_grace_s),
        server_header=False,
    )


if __name__ == "__main__":
    main()
