"""Rapport's shared library: the event contracts and the plumbing every service uses, grouped by
concern. From the bottom up (each group may import only those below it; `make lint` holds this
with import-linter, the contracts in the root pyproject.toml):

    contracts      what services agree on: events, envelope, subjects, plan rules (pydantic only)
    telemetry      the context (correlation, causation, actor, trace) that follows a request
    persistence    engines, drivers, core tables, migrations: the only code that knows the driver
    eventsourcing  the event store, its encrypted variant and key ring, projection changes
    messaging      NATS: connection, outbox relay, quarantine, consumer runner, AsyncAPI
    web            the HTTP edge: problem+json, request limits and models, Idempotency-Key, egress
    security       tokens, policy, authorization, audit, care teams, log redaction
    runtime        one service's lifecycle, settings, logging, metrics, admin router, CLI

Dev and test tools (embedded nats-server, the local suite, test helpers) are the separate
rapport-devtools package, which production code never imports.
"""
