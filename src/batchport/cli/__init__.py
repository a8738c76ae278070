"""The `batchport` command: a thin layer that parses flags, calls a use case, prints the result.

base.py   the Typer apps, global options, consoles, error reporting
jobs.py   import, history, batch, rollback
admin.py  recover, serve, accounts, audit, db
types.py  types, types show, types scaffold
"""

from batchport.cli import admin, jobs, types  # noqa: F401 - their commands register on `app`
from batchport.cli.base import app, main

__all__ = ["app", "main"]
