"""What differs between the databases batchport supports, one class per dialect."""

from __future__ import annotations

from batchport.dialects.base import Dialect
from batchport.dialects.postgresql import PostgresqlDialect
from batchport.dialects.sqlite import SqliteDialect
from batchport.errors import ConfigurationError

__all__ = ["Dialect", "dialect_for"]

_DIALECTS: dict[str, type[Dialect]] = {
    "postgresql": PostgresqlDialect,
    "sqlite": SqliteDialect,
}


def dialect_for(name: str) -> Dialect:
    """The dialect class for a SQLAlchemy dialect name."""
    try:
        return _DIALECTS[name]()
    except KeyError:
        supported = ", ".join(sorted(_DIALECTS))
        raise ConfigurationError(f"unsupported database {name!r}; supported: {supported}") from None
