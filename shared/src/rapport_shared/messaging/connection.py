"""NATS connection and the owning service's stream.

Only the owner declares its stream (ensure_stream); consumers bind to other services' streams
without redeclaring them, so two declarers can never overwrite each other's configuration.
"""

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from rapport_shared.contracts.subjects import service_subjects, stream_name

log = structlog.get_logger(__name__)

DUPLICATE_WINDOW_SECONDS = 120.0


def server_urls(url: str) -> list[str]:
    """RAPPORT_NATS_URL may list several servers of a cluster, comma-separated."""
    return [part.strip() for part in url.split(",") if part.strip()]


def redacted(url: str) -> str:
    """The URL(s) without user info, for logs: credentials never reach a log line."""
    return ",".join(_without_user_info(u) for u in server_urls(url))


def _without_user_info(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


async def connect(
    url: str, name: str, reconnected: Callable[[], Awaitable[None]] | None = None
) -> NATS:
    """Connect once; nats-py reconnects by itself after that, forever, and then calls
    reconnected.

    Pings every few seconds so a frozen (not closed) server is noticed in seconds rather than
    nats-py's default of minutes, and the client moves to another cluster node.
    """
    return await nats.connect(
        servers=server_urls(url),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        allow_reconnect=True,
        ping_interval=5,
        max_outstanding_pings=2,
        reconnected_cb=reconnected,
    )


async def connect_with_retry(
    url: str,
    name: str,
    stop: asyncio.Event | None = None,
    reconnected: Callable[[], Awaitable[None]] | None = None,
) -> NATS:
    delay = 0.2
    while True:
        try:
            return await connect(url, name, reconnected)
        except Exception as error:  # noqa: BLE001 - any failure to connect is retried
            log.warning(
                "nats connect failed, retrying", url=redacted(url), error=str(error), delay=delay
            )
            if stop is not None and stop.is_set():
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def ensure_stream(js: JetStreamContext, service: str, replicas: int = 1) -> None:
    name = stream_name(service)
    config = StreamConfig(
        name=name,
        subjects=[service_subjects(service)],
        storage=StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    )
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("stream created", stream=name, replicas=replicas)
        return
    await js.update_stream(config)
