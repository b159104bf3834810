"""What follows a request or an event through the suite: its correlation id, causing event
and actor (context, contextvars the HTTP middleware and the consumer runner set and the event
store reads) and its W3C trace (tracing, OpenTelemetry spans, off unless configured). Below
every group that handles requests or events; imports only rapport_shared.contracts, the standard
library and OpenTelemetry.
"""
