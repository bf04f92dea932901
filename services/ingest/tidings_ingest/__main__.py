"""``tidings-ingest``: serve the API with uvicorn on TIDINGS_INGEST__HOST/PORT.

uvicorn handles SIGTERM/SIGINT: it stops accepting, lets in-flight requests finish (their
commits included), then the lifespan shutdown commits what is queued and closes the producer.
"""

from __future__ import annotations

import uvicorn

from tidings.logs import configure_logging, get_logger
from tidings.settings import get_settings
from tidings_ingest.app import create_app


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, service="ingest")
    get_logger(__name__).info(
        "ingest_starting",
        host=settings.ingest.host,
        port=settings.ingest.port,
        topic_prefix=settings.topic_prefix,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.ingest.host,
        port=settings.ingest.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.ingest.shutdown_grace_s),
        server_header=False,
    )


if __name__ == "__main__":
    main()
