"""NATS JetStream: the connection and the owning service's stream (connection), the outbox relay
(outbox) and the events the broker refuses for good (quarantine), the durable pull consumers
with their exactly-once effect (consumer) and the AsyncAPI document (asyncapi). Imports
rapport_shared.contracts, telemetry, persistence and eventsourcing; nothing of HTTP.
"""
