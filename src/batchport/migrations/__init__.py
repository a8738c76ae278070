"""Schema migrations (Alembic): running them, and where the database stands.

Alembic is imported only when a migration runs or is listed, so that everyday commands start
fast; `HEAD` names the newest revision (a test keeps it equal to the scripts' head).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

SCRIPT_LOCATION = str(Path(__file__).parent)
HEAD = "20261212120000"


def alembic_config(connection: sa.Connection | None = None, url: str | None = None) -> Config:
    """An Alembic configuration for batchport's revisions, bound to a connection or URL."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script() -> ScriptDirectory:
    """The revision scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision."""
    return HEAD


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at, or None if it has none."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    version = connection.exec_driver_sql("select version_num from alembic_version").scalar()
    return None if version is None else str(version)


def pending_revisions(connection: sa.Connection) -> list[str]:
    """Revisions not yet applied, oldest first."""
    current = current_revision(connection)
    revisions = script().iterate_revisions("heads", current or "base")
    return [r.revision for r in reversed(list(revisions))]


def upgrade(connection: sa.Connection, target: str = "head") -> None:
    """Upgrades the database to `target`."""
    from alembic import command

    command.upgrade(alembic_config(connection), target)


def downgrade(connection: sa.Connection, target: str) -> None:
    """Downgrades the database to `target` (a revision, `-1` or `base`)."""
    from alembic import command

    command.downgrade(alembic_config(connection), target)
