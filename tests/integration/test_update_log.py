"""An update's change log is the same whether the database writes it (PostgreSQL, in one
statement) or batchport builds it (a page at a time, as on SQLite): the same entries holding
the same values, link rows and identities, so that a rollback reads either alike."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from batchport import rollback_batch, run_import
from batchport.loading import update
from batchport.schema import import_changes
from tests.helpers import manual_sql, update_users

pytestmark = pytest.mark.types("shipped", "declared")

#: The entry's columns that hold JSON.
DOCUMENTS = ("row_key", "prior", "prior_links", "targets")


def logged(db, batch_id):
    """The batch's change-log entries, in the order they were written, JSON decoded (link
    rows in a set order: a list's order means nothing)."""
    columns = ["table_name", "row_id", "version_before", "version_after", *DOCUMENTS]
    query = (
        sa.select(*(import_changes.c[name] for name in columns))
        .where(import_changes.c.batch_id == batch_id)
        .order_by(import_changes.c.id)
    )
    with db.connect() as conn:
        entries = [dict(row) for row in conn.execute(query).mappings()]
    for entry in entries:
        for name in DOCUMENTS:
            entry[name] = json.loads(entry[name]) if entry[name] is not None else None
        for table, rows in (entry["prior_links"] or {}).items():
            entry["prior_links"][table] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))
    return entries


def both_ways(db, monkeypatch, run):
    """The change logs of `run` (an update import), first written where the database can,
    then (after a rollback of the first) built by batchport."""
    written = []

    def spied(*args):
        written.append(in_database(*args))
        return written[-1]

    in_database = update.log_in_database
    monkeypatch.setattr(update, "log_in_database", spied)
    first = run("first.csv")
    assert written == [db.dialect.name == "postgresql"]
    rollback_batch(db, first.batch_id, actor="b")
    monkeypatch.setattr(update, "log_in_database", lambda *args: False)
    second = run("second.csv")
    assert first.updated == second.updated > 0
    return logged(db, first.batch_id), logged(db, second.batch_id)


def test_users_values_and_links_are_logged_alike(db, csv_file, users_batch, monkeypatch):
    """ann renamed and moved (a link dropped, two added), bob's departments widened (a flag
    kept, a link added), cy new: the two logs hold the same entries, prior values, link
    rows and the departments they named (times to the whole second among them)."""
    if db.dialect.name == "postgresql":
        # Times with no microseconds, which `isoformat()` writes without them.
        whole = "created_at = '2026-01-02 03:04:05+00'"
        manual_sql(db, f"UPDATE {{users}} SET {whole} WHERE email = 'ann@x.org'")
        manual_sql(db, f"UPDATE {{departments}} SET {whole} WHERE code = 'FIN'")

    def run(name):
        return update_users(
            db,
            csv_file,
            ["ann@x.org", "Annie", "Lee", "OPS;FIN"],
            ["bob@x.org", "Bob", "Ray", "FIN;HQ"],
            ["cy@x.org", "Cy", "Poe", "HQ"],
            name=name,
        )

    database, batchport = both_ways(db, monkeypatch, run)
    assert len(database) == 2
    assert database == batchport
    assert all(entry["targets"] for entry in database)


def test_a_changed_parent_is_logged_alike(db, csv_file, users_batch, monkeypatch):
    """FIN moved under OPS, OPS renamed: the prior parent and the department it names are
    logged alike, and an entry that points nowhere has no targets either way."""

    def run(name):
        path = csv_file(
            [
                ["code", "name", "parent_code"],
                ["FIN", "Finance", "OPS"],
                ["OPS", "Operations and logistics", "HQ"],
            ],
            name=name,
        )
        return run_import(db, "departments", path, actor="b", on_existing="update")

    database, batchport = both_ways(db, monkeypatch, run)
    assert database == batchport
    assert [bool(entry["targets"]) for entry in database] == [True, False]
