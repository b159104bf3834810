"""Storage: the engines and drivers (db for SQLite and PostgreSQL, postgres_engine, sqlite_inline),
the tables every service has (schema), Alembic run at start-up (migrations) and the prebuilt
statements run on the driver's own connection (driver_sql). The only group that imports a
database driver (asyncpg, aiosqlite, sqlite3) and the place for code that branches on the
dialect. Imports rapport_shared.contracts and rapport_shared.telemetry, SQLAlchemy and Alembic.
"""
