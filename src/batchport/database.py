"""The database batchport works on: its engine, its dialect and the import types it offers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from batchport import migrations
from batchport.declarations import Catalog
from batchport.dialects import Dialect, dialect_for
from batchport.errors import ConfigurationError, DatabaseError, DatabaseNotMigrated, first_line

#: The embedded default: a SQLite file in the working directory.
DEFAULT_URL = "sqlite:///batchport.db"


#: Import types that are read from the database when first needed (a types file's own
#: tables), given its engine.
CatalogOf = Callable[[sa.Engine], Catalog]


@dataclass
class Database:
    """An engine with batchport's per-dialect settings; built once at an edge and passed down."""

    engine: sa.Engine
    dialect: Dialect
    _catalog: Catalog | CatalogOf
    #: Held while the catalog is first read: threads that need it at once read it once.
    _reading: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def catalog(self) -> Catalog:
        """The import types this database offers (read on first use, when they must be, from
        a schema made current first: tracking is checked in batchport's own tables)."""
        if not isinstance(self._catalog, Catalog):
            with self._reading:
                if not isinstance(self._catalog, Catalog):
                    self.ensure_ready()
                    self._catalog = self._catalog(self.engine)
        return self._catalog

    @classmethod
    def from_url(cls, url: str | None = None, *, catalog: Catalog | CatalogOf) -> Database:
        """Opens the database at a SQLAlchemy URL (default: the embedded SQLite file), offering
        the import types of `catalog` (the caller, at an edge, chooses them: the built-in ones
        are `batchport.BUILTIN_TYPES`; a types file's are `TypesSource.catalog`, read from
        the database on first use)."""
        try:
            parsed = make_url(url or DEFAULT_URL)
        except sa.exc.ArgumentError as exc:
            raise ConfigurationError(f"not a database URL: {url!r}") from exc
        if parsed.drivername in {"postgresql", "postgres"}:
            parsed = parsed.set(drivername="postgresql+psycopg")
        dialect = dialect_for(parsed.get_backend_name())
        try:
            engine = sa.create_engine(
                parsed,
                execution_options={
                    "schema_translate_map": dialect.schema_translate_map,
                    # INSERT ... SELECT row counts are the import's counts.
                    "preserve_rowcount": True,
                },
                pool_pre_ping=True,
            )
        except (sa.exc.ArgumentError, ModuleNotFoundError) as exc:
            raise ConfigurationError(f"cannot use database URL {url!r}: {exc}") from exc
        dialect.configure(engine)
        return cls(engine, dialect, catalog)

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def connect(self) -> sa.Connection:
        """A new connection; a database that cannot be reached is a `DatabaseError`."""
        try:
            return self.engine.connect()
        except sa.exc.OperationalError as exc:
            raise DatabaseError(
                f"cannot connect to {self.display_url}: {first_line(exc.orig)}"
            ) from exc

    def ensure_ready(self) -> None:
        """Checks the schema is at the head revision, migrating SQLite on first use."""
        head = migrations.head_revision()
        with self.connect() as conn:
            current = migrations.current_revision(conn)
        if current == head:
            return
        if not self.dialect.migrates_on_first_use:
            raise DatabaseNotMigrated(current, head)
        with self.connect() as conn:
            migrations.upgrade(conn)
            conn.commit()

    def dispose(self) -> None:
        """Closes every pooled connection."""
        self.engine.dispose()
