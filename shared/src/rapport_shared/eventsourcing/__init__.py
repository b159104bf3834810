"""The write side's storage: the append-only event store with optimistic concurrency and the
transactional outbox (eventstore), the store that encrypts clinical free text (privatestore) with
its per-client key ring and the plan's sealed wording (crypto; the key table's migration steps in
client_keys_migrations), and projection changes as data, applied live or folded in a rebuild
(projection). Imports rapport_shared.contracts, telemetry and persistence; nothing of HTTP or NATS.
"""
