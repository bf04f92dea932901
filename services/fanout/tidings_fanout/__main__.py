"""``tidings-fanout``: one consumer-group member of the fan-out (docs/processing.md)."""

from __future__ import annotations

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.instance_id import assign_instance
from tidings.logs import configure_logging
from tidings.processing.service import run_service
from tidings.settings import get_settings
from tidings_fanout.handler import FanoutHandler


def main() -> None:
    settings = assign_instance(get_settings(), "fanout")
    configure_logging(settings.log_level, service="fanout")
    codec = Codec(settings.schemas_dir)
    handler = FanoutHandler(settings, codec)
    try:
        run_service(
            settings,
            "fanout",
            handler,
            [Topics(settings).resolved.name],
            settings.processing.fanout_batch,
        )
    finally:
        handler.close()


if __name__ == "__main__":
    main()
