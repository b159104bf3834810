"""The body of a command route, written once: open a write transaction, call the handler on it
with the service's store and the time read once (contracts.clock.utc_now), and answer with what
the handler returned (`run`) or with a read of the rows it just wrote, in the same transaction
(`run_then_read`). A handler's signature is (conn, store, now, ...), the rest its own.

The route keeps what is its own: its path, authorization, status code and the answer's shape.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from rapport_shared.contracts.clock import utc_now
from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.runtime.service import ServiceRuntime

Store = TypeVar("Store", bound=EventStore)
Arguments = ParamSpec("Arguments")
Result = TypeVar("Result")
Answer = TypeVar("Answer")

CommandHandler = Callable[
    Concatenate[AsyncConnection, Store, datetime, Arguments], Awaitable[Result]
]
# What a command route answers with, read on the command's connection.
Read = Callable[[AsyncConnection], Awaitable[Answer]]


async def run(
    runtime: ServiceRuntime[Store],
    handler: CommandHandler[Store, Arguments, Result],
    *args: Arguments.args,
    **kwargs: Arguments.kwargs,
) -> Result:
    """What the handler returned, once its transaction has committed."""
    async with runtime.transaction() as conn:
        return await handler(conn, runtime.store, utc_now(), *args, **kwargs)


async def run_then_read(
    runtime: ServiceRuntime[Store],
    read: Read[Answer],
    handler: CommandHandler[Store, Arguments, object],
    *args: Arguments.args,
    **kwargs: Arguments.kwargs,
) -> Answer:
    """The handler, then `read` on the same connection: the read model the handler projected
    into in this transaction, answered without a second connection."""
    async with runtime.transaction() as conn:
        await handler(conn, runtime.store, utc_now(), *args, **kwargs)
        return await read(conn)
