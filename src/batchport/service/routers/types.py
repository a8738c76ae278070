"""The import types the service offers, each with what its file's columns must hold: what an
upload may name, and how to fill its file."""

from typing import Any

from fastapi import APIRouter, HTTPException

from batchport import commands
from batchport.service import models
from batchport.service.dependencies import Who

router = APIRouter(tags=["types"])


@router.get("/types", response_model=list[models.ImportType])
def import_types(who: Who) -> list[dict[str, Any]]:
    """Every import type in use (the types file's, or the shipped ones), parents first."""
    return commands.describe_types(who.db)


@router.get("/types/{name}", response_model=models.ImportType)
def import_type(who: Who, name: str) -> dict[str, Any]:
    """One import type: its table, key, and each column's parser, target and rules."""
    found = [t for t in commands.describe_types(who.db) if t["import_type"] == name]
    if not found:
        raise HTTPException(404, f"no import type {name!r}")
    return found[0]
