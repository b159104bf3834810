"""Rapport's benchmark suite (`make bench`, i.e. `python -m bench.run`).

One module per group of figures: append.py (event store against eventsourcing and raw asyncpg),
pipeline.py (outbox to projection against raw JetStream), suite.py (the three services as
processes: rebuild, HTTP load, end-to-end latency, memory), dispatch.py (notifications scaling).
common.py holds what they share; docs/BENCHMARKS.md explains the method.
"""
