"""Schema migrations (Alembic): running them, and where the database stands."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

SCRIPT_LOCATION = str(Path(__file__).parent)


def alembic_config(connection: sa.Connection | None = None, url: str | None = None) -> Config:
    """An Alembic configuration for batchport's revisions, bound to a connection or URL."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script() -> ScriptDirectory:
    """The revision scripts."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision."""
    head = script().get_current_head()
    assert head is not None
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at, or None if it has none."""
    return MigrationContext.configure(connection).get_current_revision()


def pending_revisions(connection: sa.Connection) -> list[str]:
    """Revisions not yet applied, oldest first."""
    current = current_revision(connection)
    revisions = script().iterate_revisions("heads", current or "base")
    return [r.revision for r in reversed(list(revisions))]


def upgrade(connection: sa.Connection, target: str = "head") -> None:
    """Upgrades the database to `target`."""
    command.upgrade(alembic_config(connection), target)


def downgrade(connection: sa.Connection, target: str) -> None:
    """Downgrades the database to `target` (a revision, `-1` or `base`)."""
    command.downgrade(alembic_config(connection), target)
