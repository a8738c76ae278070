"""Import types declared in a TOML file: which file (`load`), what it may say (`spec`), the
parsers by name (`parsers`), and the `Catalog` built from it against the tables (`build`)."""

from batchport.configuration.load import TypesSource, find, shipped_text

__all__ = ["TypesSource", "find", "shipped_text"]
