"""``tidings-resolver``: one consumer-group member of the resolver (docs/processing.md)."""

from __future__ import annotations

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.domain.clients import ClientRegistry
from tidings.instance_id import assign_instance
from tidings.logs import configure_logging
from tidings.processing.service import run_service, wait_views
from tidings.settings import get_settings
from tidings.stores.clients import clients_view
from tidings.stores.directory import store_directory
from tidings.stores.schemas import SchemaRegistry
from tidings_resolver.handler import ResolverHandler


def main() -> None:
    settings = assign_instance(get_settings(), "resolver")
    configure_logging(settings.log_level, service="resolver")
    codec = Codec(settings.schemas_dir)
    clients = ClientRegistry()
    # The directory lives in this instance's local stores, resumed from their checkpoints.
    directory, dir_view = store_directory(settings, codec, "resolver")
    registry = SchemaRegistry(settings, codec)
    client_view = clients_view(settings, codec, clients)
    views = [dir_view, client_view]
    registry.start()
    wait_views(views, settings.processing.restore_timeout_s)
    registry.wait_ready(settings.processing.restore_timeout_s)
    handler = ResolverHandler(
        settings, codec, directory, dir_view, clients, client_view, registry.schemas
    )
    topics = Topics(settings)
    try:
        run_service(
            settings,
            "resolver",
            handler,
            [topics.events.name, topics.retry.name],
            settings.processing.resolver_batch,
        )
    finally:
        handler.close()
        registry.stop()
        for view in views:
            view.stop()


if __name__ == "__main__":
    main()
