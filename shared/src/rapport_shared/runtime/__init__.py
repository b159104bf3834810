"""One service's running parts: its lifecycle (service: database, event store, NATS, relay,
consumers, HTTP app), the body every command route shares (commands), settings, logging,
metrics, the operators' /admin router, the `rapport` CLI and the services' Alembic env
(alembic_env). The top of the library: may import every other group;
nothing in rapport_shared imports it but itself.
"""
