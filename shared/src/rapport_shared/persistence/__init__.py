"""Storage, and the only code that knows the database: the engines and drivers (db for SQLite
and PostgreSQL, postgres_engine, sqlite_inline), the tables every service has (schema, columns,
shared_migrations), Alembic run at start-up (migrations), and how things are written and read on
each dialect: the event log's rows (event_log), the one insert-or-update (upserts), prebuilt
statements run on the driver's own connection (driver_sql), a rebuild's locks (locks). The only
group that imports a database driver (asyncpg, aiosqlite, sqlite3) or a SQLAlchemy dialect, or
branches on the dialect: the groups above say what they want (db.writers_take_turns,
event_log.log_is_outbox, ...) and this one decides how (tests/test_layering.py holds it).
Imports rapport_shared.contracts and rapport_shared.telemetry, SQLAlchemy and Alembic.
"""
