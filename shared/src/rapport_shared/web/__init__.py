"""The HTTP edge every service shares: the kinds of problem and their RFC 9457 types (problems),
problem+json errors, correlation ids and health (http), bounded request bodies and strict
request models (request_limits, request_models), Idempotency-Key (the idempotency package), the
errors every operation documents (openapi_errors), the caller's address (forwarded) and where
requests users aim may go (egress, egress_http). Imports the groups below it (contracts,
telemetry, persistence, eventsourcing), FastAPI and Starlette; not messaging, security or
runtime.
"""
