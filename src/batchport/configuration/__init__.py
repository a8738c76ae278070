"""Import types declared in a TOML file: which file (`files`, `load`), what it may say (`spec`),
the parsers by name (`parsers`), the `Catalog` built from it against the tables (`build`), and
the shipped types listed without a database (`listing`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchport import lazy_exports
from batchport.configuration.files import chosen, shipped_text

if TYPE_CHECKING:
    from batchport.configuration.load import TypesSource, find

__all__ = ["TypesSource", "chosen", "find", "shipped_text"]

#: What reads a file (pydantic, SQLAlchemy) is imported when first used.
_EXPORTS = {"batchport.configuration.load": ("TypesSource", "find")}

if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all attribute
    __getattr__ = lazy_exports(__name__, _EXPORTS)
