"""The `batchport` command: a thin layer that parses flags, calls a use case, prints the result.

base.py      the Typer apps, global options, consoles, error reporting
jobs.py      import, history, batch, rollback (outcomes.py prints what they did)
admin.py     recover, serve, accounts, audit
db.py        db migrate, status, track, untrack, rollback, verify, grant
types.py     types, types show, types scaffold
progress.py  whether to draw progress; display.py draws it
wording.py   counts as people write them

Starting is part of every command's time: these modules import only Typer and batchport's
light modules, and each command imports what it needs (the use cases, SQLAlchemy through them,
rich when it draws) when it runs. `batchport types` imports neither (tests/unit/test_startup.py).
The modules of commands do without `from __future__ import annotations`: Typer reads every
command's annotations at each start, and would compile each one from a string; the names only
type checkers need are imported under TYPE_CHECKING and quoted.
"""

from batchport.cli import admin, db, jobs, types  # noqa: F401 - their commands register on `app`
from batchport.cli.base import app, main

__all__ = ["app", "main"]
