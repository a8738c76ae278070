"""The shipped import types as `batchport types` lists them — each one's name, table and
description, and its columns, each with whether a file must fill it — read off the shipped
types file alone. Its tables are batchport's own, which need no database to be known, so the
listing needs neither SQLAlchemy nor pydantic: the command answers in a blink. A test proves
it equal to what the catalog built from the same file describes."""

from __future__ import annotations

import tomllib
from typing import Any

from batchport.configuration.files import shipped_text


def shipped_listing() -> list[dict[str, Any]]:
    """The shipped types in the file's order (parents first, as their catalog orders them),
    with the keys of `describe.described` a listing shows."""
    declared: dict[str, dict[str, Any]] = tomllib.loads(shipped_text())["types"]
    return [
        {
            "import_type": name,
            "table": spec["table"],
            "description": spec.get("description", ""),
            "columns": [
                {"name": field["name"], "required": field.get("required", False)}
                for field in spec["fields"]
            ],
        }
        for name, spec in declared.items()
    ]
