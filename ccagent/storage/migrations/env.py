"""Alembic environment for ccagent: one linear history for SQLite and PostgreSQL (R-REP-1).

Where the URL comes from, in order: a connection handed over by
``ccagent.storage.db.upgrade`` (``config.attributes["connection"]``), the
``sqlalchemy.url`` option, the ``CCAGENT_DB_URL`` environment variable, else a
throw-away SQLite file migrated to head, so ``alembic check`` and
``alembic revision --autogenerate`` compare the models with what the
migrations really build.
"""

from __future__ import annotations

import logging
import os
import tempfile
from logging.config import fileConfig
from pathlib import Path
from typing import Any

from alembic import context
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, pool

from ccagent.storage.models import Base
from ccagent.storage.views import VIEW_NAMES

config = context.config
if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = Base.metadata


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # Views are created by hand in migrations and are not in the metadata.
    return not (type_ == "table" and name in VIEW_NAMES)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
        # SQLite cannot ALTER most things: batch mode recreates the table. Only there.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _migrate_fresh_to_head(connection: Connection) -> None:
    """Build a scratch database with the real migrations (not create_all), then stamp it."""
    script = ScriptDirectory.from_config(config)
    mc = MigrationContext.configure(connection, opts={"render_as_batch": True})
    with Operations.context(mc):
        for revision in reversed(list(script.walk_revisions("base", "heads"))):
            revision.module.upgrade()
    mc.stamp(script, "head")
    connection.commit()


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("CCAGENT_DB_URL")
    if not url:
        raise SystemExit("offline (--sql) mode needs CCAGENT_DB_URL to know the SQL dialect")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        include_object=include_object,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        _configure(given)
        with context.begin_transaction():
            context.run_migrations()
        return

    url = config.get_main_option("sqlalchemy.url") or os.environ.get("CCAGENT_DB_URL")
    with tempfile.TemporaryDirectory(prefix="ccagent-alembic-") as tmp:
        scratch = not url
        if not url:
            url = f"sqlite:///{Path(tmp) / 'scratch.db'}"
            logging.getLogger("alembic").warning(
                "CCAGENT_DB_URL is not set: working on a scratch SQLite database migrated to head"
            )
        engine = create_engine(url, poolclass=pool.NullPool)
        try:
            with engine.connect() as connection:
                if scratch:
                    _migrate_fresh_to_head(connection)
                _configure(connection)
                with context.begin_transaction():
                    context.run_migrations()
        finally:
            engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
