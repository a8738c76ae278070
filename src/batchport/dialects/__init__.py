"""What differs between the databases batchport supports, one class per dialect."""

from __future__ import annotations

from importlib import import_module

from batchport.dialects.base import Dialect, ForeignKey
from batchport.errors import ConfigurationError

__all__ = ["Dialect", "ForeignKey", "dialect_for"]

#: Each dialect's class, imported only when a database of its kind is opened (so that, say,
#: the SQLite default never pays for loading the PostgreSQL driver).
_DIALECTS = {
    "postgresql": "batchport.dialects.postgresql:PostgresqlDialect",
    "sqlite": "batchport.dialects.sqlite:SqliteDialect",
}


def dialect_for(name: str) -> Dialect:
    """The dialect class for a SQLAlchemy dialect name."""
    if name not in _DIALECTS:
        supported = ", ".join(sorted(_DIALECTS))
        raise ConfigurationError(f"unsupported database {name!r}; supported: {supported}")
    module, _, cls = _DIALECTS[name].partition(":")
    dialect: Dialect = getattr(import_module(module), cls)()
    return dialect
