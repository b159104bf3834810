"""NATS connection and the owning service's stream.

Only the owner declares its stream (ensure_stream); consumers bind to other services' streams
without redeclaring them, so two declarers can never overwrite each other's configuration.
"""

import asyncio

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from rapport_shared.subjects import service_subjects, stream_name

log = structlog.get_logger(__name__)

DUPLICATE_WINDOW_SECONDS = 120.0


async def connect(url: str, name: str) -> NATS:
    """Connect once; nats-py reconnects by itself after that, forever."""
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        allow_reconnect=True,
    )


async def connect_with_retry(url: str, name: str, stop: asyncio.Event | None = None) -> NATS:
    delay = 0.2
    while True:
        try:
            return await connect(url, name)
        except Exception as error:  # noqa: BLE001 - any failure to connect is retried
            log.warning("nats connect failed, retrying", url=url, error=str(error), delay=delay)
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
