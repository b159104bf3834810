"""One service's running parts: database, event store, NATS, outbox relay, consumers, and the
background loops the service adds. A service's bootstrap module builds one of these, registers
its subscriptions and loops, and gets its FastAPI app from it."""

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Generic

import structlog
import uvicorn
from fastapi import Depends, FastAPI, Request, Response
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from sqlalchemy import Table, delete, text
from sqlalchemy.ext.asyncio import AsyncConnection
from typing_extensions import TypeVar

from rapport_shared.eventsourcing.eventstore import EventStore
from rapport_shared.messaging.asyncapi import asyncapi_document
from rapport_shared.messaging.connection import connect_with_retry, ensure_stream, redacted
from rapport_shared.messaging.consumer import ConsumerRunner, Subscription
from rapport_shared.messaging.outbox import OutboxRelay
from rapport_shared.persistence.db import create_engine
from rapport_shared.persistence.locks import hold_off_writers
from rapport_shared.persistence.migrations import migrate
from rapport_shared.runtime.admin import admin_router
from rapport_shared.runtime.logging import configure_logging
from rapport_shared.runtime.metrics import ServiceMetrics, take_snapshot
from rapport_shared.runtime.settings import ServiceSettings, verifier_for
from rapport_shared.security import audit
from rapport_shared.security.access import authenticate
from rapport_shared.telemetry.tracing import configure_tracing, shutdown_tracing
from rapport_shared.web.http import install_http_plumbing
from rapport_shared.web.idempotency.middleware import IdempotencyMiddleware
from rapport_shared.web.idempotency.store import IdempotencyStore
from rapport_shared.web.openapi_errors import document_errors
from rapport_shared.web.request_limits import RequestLimits

log = structlog.get_logger(__name__)

# How long /readyz waits for the database's answer: a probe must answer before its own timeout.
READINESS_DATABASE_TIMEOUT = 2.0

BackgroundLoop = Callable[[], Awaitable[None]]
Rebuild = Callable[[], Awaitable[None]]

# The kind of event store a service runs on: a service that keeps free text runs on a
# PrivateEventStore, and its handlers and routes see that type (ServiceRuntime[PrivateEventStore],
# Runtime[PrivateEventStore]). Covariant, so code that needs only an EventStore takes any runtime.
StoreT_co = TypeVar("StoreT_co", bound=EventStore, covariant=True, default=EventStore)


class ServiceRuntime(Generic[StoreT_co]):
    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        store: StoreT_co,
        migrations: Path,
    ) -> None:
        self.name = name
        self.settings = settings
        self._store = store
        self.registry = store.registry
        self.migrations = migrations
        self.engine = create_engine(
            settings.resolved_database_url(name), pool_size=settings.database_pool_size
        )
        self.subscriptions: list[Subscription] = []
        self.consumers: list[ConsumerRunner] = []
        self.relay: OutboxRelay | None = None
        self.nc: NATS | None = None
        self.migrated = False
        # The broker side is up: stream ensured, relay and consumers running.
        self.broker_started = False
        # Set by serve(): the process is this service's own (see freeze_the_startup_heap).
        self.owns_the_process = False
        self.metrics = ServiceMetrics()
        self.projections: dict[str, Rebuild] = {}
        self._loops: list[BackgroundLoop] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.idempotency = IdempotencyStore(
            self.engine,
            retention=timedelta(hours=settings.idempotency_retention_hours),
            lease=timedelta(seconds=settings.idempotency_lease_seconds),
        )
        self.add_periodic(
            "idempotency cleanup",
            settings.idempotency_cleanup_interval_seconds,
            self.idempotency.purge_round,
        )

    @property
    def store(self) -> StoreT_co:
        """Fixed at construction: the subscriptions, loops and routes wired to it share it."""
        return self._store

    def subscribe(self, subscription: Subscription) -> None:
        self.subscriptions.append(subscription)

    def add_loop(self, loop: BackgroundLoop) -> None:
        self._loops.append(loop)

    def add_periodic(
        self,
        what: str,
        interval: float,
        work: Callable[[], Awaitable[object]],
        *,
        at_start: bool = True,
    ) -> None:
        """Run work every interval seconds while the service runs: at start and then after
        each round, or (at_start=False) first one interval after start. work opens what it
        writes in with self.transaction(), as a route does; a failed round (the database away)
        is logged as "<what> failed" and the next one retries."""
        self.add_loop(partial(_every, what, interval, work, at_start=at_start))

    def add_projection(
        self,
        name: str,
        tables: Sequence[Table],
        replay: "Replay[StoreT_co]",
    ) -> None:
        """Make a read model rebuildable by operators (POST /admin/projections/<name>/rebuild,
        `rapport rebuild <service>.<name>`): its tables (in creation order) are emptied and
        replay(conn, runtime) refills them from the events, through the live updates."""
        self.projections[name] = partial(self._rebuild, tables, replay)

    async def rebuild(self, name: str) -> None:
        await self.projections[name]()

    async def _rebuild(self, tables: Sequence[Table], replay: "Replay[StoreT_co]") -> None:
        # One transaction that first holds off the tables' live writers (persistence.locks
        # says why that lock, and not one on the event log): each live update either is in what
        # the replay reads or lands after it, on the rebuilt rows.
        async with self.transaction() as conn:
            await hold_off_writers(conn, tables)
            for table in reversed(tables):
                await conn.execute(delete(table))
            await replay(conn, self)

    def asyncapi(self) -> dict[str, Any]:
        """The AsyncAPI document of what this service publishes and consumes."""
        return asyncapi_document(self.name, self.registry, self.subscriptions, version="1")

    def jetstream(self) -> JetStreamContext | None:
        return self.nc.jetstream() if self.nc is not None and self.nc.is_connected else None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; the relay is woken once it has committed. The one way one is
        opened outside the consumer runner (which opens one per batch): by a route, a
        background round (add_periodic), a rebuild. Handlers take the connection they are given
        and never open, commit or roll back one."""
        async with self.engine.begin() as conn:
            yield conn
        self.notify_relay()

    def notify_relay(self) -> None:
        if self.relay is not None:
            self.relay.notify()

    async def _broker_back(self) -> None:
        if self.relay is not None:
            self.relay.broker_back()

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Ready while the database answers, whether the broker does or not: a command is
        accepted into the outbox either way and published once the broker is back, so a broker
        outage must not take every instance out of its load balancer. The broker's state is
        told beside it (and in /metrics, /admin/status): connecting (not yet started on it),
        connected, or disconnected."""
        database = "not migrated" if not self.migrated else await self._database_state()
        return database == "ok", {"database": database, "broker": self.broker_state()}

    async def _database_state(self) -> str:
        try:
            async with asyncio.timeout(READINESS_DATABASE_TIMEOUT):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - any failure is "not reachable"
            log.warning("database not reachable", error=repr(error))
            return "unreachable"
        return "ok"

    def broker_state(self) -> str:
        if not self.broker_started:
            return "connecting"
        return "connected" if self.nc is not None and self.nc.is_connected else "disconnected"

    async def start(self) -> None:
        configure_logging(self.name, self.settings.log_format, self.settings.log_level)
        configure_tracing(self.name, self.settings.otlp_endpoint)
        await migrate(self.engine, self.migrations)
        self.migrated = True
        for loop in self._loops:
            self._spawn(loop())
        self._spawn(self._connect_and_run())

    async def _connect_and_run(self) -> None:
        self.nc = await connect_with_retry(
            self.settings.nats_url, f"rapport-{self.name}", reconnected=self._broker_back
        )
        js = self.nc.jetstream()
        while True:
            try:
                await ensure_stream(js, self.name, self.settings.stream_replicas)
                break
            except Exception as error:  # noqa: BLE001 - JetStream may still be starting
                log.warning("stream not ensured yet", error=repr(error))
                await asyncio.sleep(1.0)
        nc = self.nc
        self.relay = OutboxRelay(
            self.engine,
            js,
            self.registry,
            batch_size=self.settings.relay_batch_size,
            poll_interval=self.settings.relay_poll_interval_seconds,
            max_payload=lambda: nc.max_payload,  # the connected server's (it may differ)
        )
        self._spawn(self.relay.run())
        for subscription in self.subscriptions:
            runner = ConsumerRunner(
                self.engine,
                js,
                self.registry,
                subscription,
                batch_size=self.settings.consumer_batch_size,
                max_deliveries=self.settings.consumer_max_deliveries,
                retry_base_seconds=self.settings.consumer_retry_base_seconds,
                ack_wait_seconds=self.settings.consumer_ack_wait_seconds,
            )
            self.consumers.append(runner)
            self._spawn(runner.run())
        self.broker_started = True
        log.info("connected", nats=redacted(self.settings.nats_url))
        if self.owns_the_process:
            freeze_the_startup_heap()

    def _spawn(self, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task crashed")
                raise

        self._tasks.append(asyncio.create_task(guarded()))

    async def stop(self) -> None:
        """Stop fetching, flush what the outbox holds, then close."""
        log.info("stopping")
        # Cancel until every task has ended: a task may swallow one cancellation (its own
        # handler, or a library's), and shutdown must not hang on it.
        for _ in range(10):
            pending = [task for task in self._tasks if not task.done()]
            if not pending:
                break
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=1.0)
        self._tasks.clear()
        log.info("background tasks stopped")
        if self.relay is not None and self.nc is not None and self.nc.is_connected:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await self.relay.publish_batch()
        if self.nc is not None:
            # Flush (acks just sent) and close; not drain(): drain waits for the messages a
            # cancelled fetch left undelivered, which never come, for 30 s. Unacked messages
            # are redelivered to the next instance and dropped there by event id if applied.
            with contextlib.suppress(Exception):
                await self.nc.flush(timeout=2)
            with contextlib.suppress(Exception):
                await self.nc.close()
        await self.engine.dispose()
        shutdown_tracing()
        log.info("stopped cleanly")

    def create_app(self, title: str) -> FastAPI:
        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(title=title, lifespan=lifespan)
        # Each middleware added wraps the ones before it: RequestLimits bounds the body before
        # IdempotencyMiddleware reads it, and both answer inside the correlation/metrics ones,
        # after authentication (installed by install_http_plumbing) has named the caller.
        limit = self.settings.max_body_bytes
        app.add_middleware(IdempotencyMiddleware, store=self.idempotency, max_body_bytes=limit)
        app.add_middleware(RequestLimits, max_body_bytes=limit)
        verifier = verifier_for(self.settings)
        install_http_plumbing(
            app,
            self.readiness,
            partial(authenticate, verifier=verifier),
            max_header_bytes=self.settings.max_header_bytes,
        )
        document_errors(app)
        app.state.runtime = self

        # Request latency and the audit entry, once the response is complete (outermost).
        app.add_middleware(
            audit.RecordedRequests,
            engine=self.engine,
            observe=self.metrics.observe_request,
            trusted_proxies=self.settings.trusted_proxy_networks(),
        )

        @app.get("/asyncapi.json", tags=["docs"], include_in_schema=False)
        async def asyncapi() -> dict[str, Any]:
            return self.asyncapi()

        @app.get("/metrics", tags=["health"], include_in_schema=False)
        async def metrics() -> Response:
            snapshot = await take_snapshot(self.engine, self.jetstream(), self.consumers)
            body = await self.metrics.render(self.engine, snapshot)
            return Response(body, media_type="text/plain; version=0.0.4")

        app.include_router(admin_router(self))
        app.include_router(audit.audit_router())
        return app


async def _every(
    what: str, interval: float, work: Callable[[], Awaitable[object]], *, at_start: bool
) -> None:
    if not at_start:
        await asyncio.sleep(interval)
    while True:
        try:
            await work()
        except Exception:  # noqa: BLE001 - e.g. the database is briefly unavailable: next round
            log.exception(f"{what} failed")
        await asyncio.sleep(interval)


async def runtime_of(request: Request) -> ServiceRuntime[Any]:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request.
    runtime: ServiceRuntime[Any] = request.app.state.runtime
    return runtime


# A read model's refill, given the runtime (its store, its subscriptions, its broker): the
# projection's tables are empty, the rebuild's transaction open (ServiceRuntime.add_projection).
Replay = Callable[[AsyncConnection, ServiceRuntime[StoreT_co]], Awaitable[object]]

# A route's parameter for the service's runtime; Runtime[PrivateEventStore] in a service whose
# bootstrap builds it on one (its store is then typed as such). Bare, it is on an EventStore.
Runtime = Annotated[ServiceRuntime[StoreT_co], Depends(runtime_of)]


def freeze_the_startup_heap() -> None:
    """Once started, a service holds about 150,000 objects that live as long as the process
    (modules, models, schemas, table metadata, connections). Python's full collection walks
    every one of them, 90-110 ms on the bench machine, with every request and event in the
    process waiting: in the end-to-end bench that pause set the 99th percentile. Frozen, they
    are not walked again; a full collection then walks only what came later, a few ms.

    Only in a process that is the service's own: a test process starts many runtimes, and a
    frozen object that later becomes garbage in a reference cycle is never collected."""
    gc.collect()
    gc.freeze()


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    app.state.runtime.owns_the_process = True
    # What the service creates (the SQLite database and its WAL, keys under the data dir) is
    # readable by its owner only, however it was started.
    os.umask(0o077)
    # Bounded: a client that keeps a connection busy cannot hold the shutdown (and the outbox
    # flush behind it) past the orchestrator's grace period.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        # uvicorn would take X-Forwarded-For from any local caller as the client's address;
        # the audit log reads forwarded addresses itself, from configured proxies only.
        proxy_headers=False,
    )
