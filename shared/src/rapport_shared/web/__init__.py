"""The HTTP edge every service shares: RFC 9457 problem+json, correlation ids and health (http),
bounded request bodies and strict request models (request_limits, request_models), Idempotency-Key
(idempotency), the errors every operation documents (openapi_errors), the caller's address
(forwarded) and where requests users aim may go (egress, egress_http). Imports the groups below
it (contracts, telemetry, persistence, eventsourcing), FastAPI and Starlette; not messaging,
security or runtime.
"""
