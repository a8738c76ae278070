"""Which types file is in use — `--config`, `$BATCHPORT_CONFIG`, `./batchport.toml`, else the
shipped one — told without reading it (nor importing what reads it)."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

#: The file looked for in the working directory.
LOCAL_FILE = "batchport.toml"
#: The environment variable naming a types file.
ENVIRONMENT = "BATCHPORT_CONFIG"
#: The shipped types, departments and users.
SHIPPED = "default.toml"


def chosen(given: str | Path | None = None) -> str | Path | None:
    """The types file to use: `given`, else `$BATCHPORT_CONFIG`, else `./batchport.toml` if
    there is one; None for the shipped types."""
    found = given or os.environ.get(ENVIRONMENT)
    if found is None and Path(LOCAL_FILE).is_file():
        found = LOCAL_FILE
    return found


def shipped_text() -> str:
    """The shipped types file, departments and users: a start for one's own."""
    return files("batchport.configuration").joinpath(SHIPPED).read_text(encoding="utf-8")
