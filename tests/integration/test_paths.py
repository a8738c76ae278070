"""The precheck, the direct path and the staged path, each driven on its own over a few rows.

Files are parsed as an import parses them (two rows per chunk, so that parents and cycles cross
chunk boundaries), then handed to one component on a real database of each kind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from operator import attrgetter
from pathlib import Path

import pytest
import sqlalchemy as sa

from batchport import (
    Catalog,
    Database,
    Field,
    ImportType,
    Reference,
    RowError,
    changes,
    run_import,
)
from batchport.checks import precheck as precheck_module
from batchport.checks.precheck import Precheck, brief
from batchport.checks.proof import NotLoadable
from batchport.checks.stage import Stage
from batchport.checks.staged import check_stage
from batchport.columns.mapping import map_header
from batchport.columns.parsers import Text
from batchport.columns.rows import Chunk, parse_chunks
from batchport.loading.direct import DirectLoader
from batchport.sources import open_source
from tests.helpers import DEPARTMENTS as DEPARTMENTS_ROWS
from tests.helpers import manual_sql, per_table, users_file

pytestmark = pytest.mark.types("shipped", "declared")

CsvFile = Callable[..., Path]
Rows = Callable[..., list[dict[str, object]]]

DEPARTMENT_HEADER = ["code", "name", "parent_code"]


def with_branches(db: Database) -> Catalog:
    """The database's import types and branches: departments whose parent must be a department
    already in the database, a reference to another import type, which (unlike one to the type
    itself) never looks into the file."""
    branches = ImportType(
        name="branches",
        table=db.catalog["departments"].table,
        key="code",
        fields=(
            Field("code", Text(50), required=True, column="code"),
            Field("name", Text(255), required=True, column="name"),
            Field("parent_code", Text(50)),
        ),
        references=(Reference(field="parent_code", column="parent_id", to="departments"),),
    )
    return Catalog((*db.catalog.types, branches))


def read(import_type: ImportType, path: Path, size: int = 2) -> tuple[frozenset[str], list[Chunk]]:
    """The fields the file's header names, and its rows parsed in chunks of `size` rows."""
    errors: list[RowError] = []
    with open_source(path) as source:
        mapping, header_errors = map_header(import_type, source.header())
        chunks = list(parse_chunks(mapping, source.blocks(size), errors))
    assert header_errors == errors == []
    return mapping.present, chunks


def precheck(db: Database, name: str, path: Path, catalog: Catalog | None = None) -> dict[str, int]:
    """The rows the precheck says an import of the file (as import type `name`) would create."""
    catalog = catalog or db.catalog
    import_type = catalog[name]
    _, chunks = read(import_type, path)
    with db.connect() as conn:
        checker = Precheck(conn, db.dialect, catalog, import_type)
        for chunk in chunks:
            checker.check(brief(import_type, chunk))
        return checker.finish()


def load_directly(
    db: Database, name: str, path: Path, batch_id: str, catalog: Catalog | None = None
) -> dict[str, int]:
    """Writes the file (as import type `name`) with the direct loader in a write transaction,
    as an import does."""
    catalog = catalog or db.catalog
    import_type = catalog[name]
    _, chunks = read(import_type, path)
    with (
        db.connect() as conn,
        db.dialect.begin_write(conn),
        changes.writing(conn, str(uuid.uuid4())),
        DirectLoader(conn, db.dialect, catalog, import_type, batch_id) as loader,
    ):
        for chunk in chunks:
            loader.write(chunk)
        return loader.finish()


def staged_errors(
    db: Database,
    name: str,
    path: Path,
    on_existing: str = "error",
    catalog: Catalog | None = None,
) -> list[RowError]:
    """The errors the staged checks find in the file (as import type `name`), in row order."""
    catalog = catalog or db.catalog
    import_type = catalog[name]
    present, chunks = read(import_type, path)
    with db.connect() as conn, conn.begin():
        stage = Stage.create(conn, import_type, present)
        for chunk in chunks:
            stage.write(conn, db.dialect, chunk)
        errors = check_stage(conn, stage, catalog, on_existing=on_existing)
        stage.drop(conn)
    return sorted(errors, key=attrgetter("row", "column"))


def seed(db: Database, csv_file: CsvFile, *departments: list[str]) -> str:
    """Imports departments (code, name, parent code) as one batch; returns its batch id."""
    path = csv_file([DEPARTMENT_HEADER, *departments], name=f"seed-{uuid.uuid4().hex}.csv")
    batch_id = run_import(db, "departments", path, actor="a").batch_id
    assert batch_id is not None
    return batch_id


def parents(rows: Rows) -> dict[object, object]:
    """Each department's code with its parent's code."""
    found = rows("departments")
    code = {d["id"]: d["code"] for d in found}
    return {d["code"]: code.get(d["parent_id"]) for d in found}


# The precheck (a dry run's fast path)


def test_precheck_counts_the_rows_and_links_a_valid_file_would_create(
    db: Database, csv_file: CsvFile, rows: Rows
) -> None:
    """Users and one link per department code are counted; nothing is written."""
    seed(db, csv_file, *DEPARTMENTS_ROWS[1:])
    path = users_file(
        csv_file, ["ann@x.org", "Ann", "Lee", "FIN;HQ"], ["bob@x.org", "Bob", "Ray", "OPS"]
    )
    assert precheck(db, "users", path) == per_table(db, users=2, user_departments=3)
    assert rows("users") == rows("user_departments") == []


def test_precheck_accepts_parents_later_in_the_file_or_in_the_database(
    db: Database, csv_file: CsvFile, rows: Rows
) -> None:
    """A parent in a later chunk, or one imported before, is known; the file's rows are counted."""
    seed(db, csv_file, ["ROOT", "Root", ""])
    path = csv_file(
        [
            DEPARTMENT_HEADER,
            ["KID", "k", "MID"],
            ["X", "x", ""],
            ["Y", "y", "X"],
            ["MID", "m", "ROOT"],
        ]
    )
    assert precheck(db, "departments", path) == per_table(db, departments=4)
    assert [d["code"] for d in rows("departments")] == ["ROOT"]


SENT_TO_STAGED = {
    "repeated key in a later chunk": (
        "departments",
        [DEPARTMENT_HEADER, ["A", "a", ""], ["B", "b", ""], ["A", "again", ""]],
        "a key is missing or repeated",
    ),
    "key already in the database": (
        "departments",
        [DEPARTMENT_HEADER, ["NEW", "n", ""], ["HQ", "again", ""]],
        "a key is already in the database",
    ),
    "parent nowhere": (
        "departments",
        [DEPARTMENT_HEADER, ["A", "a", "HQ"], ["B", "b", "ZZ"]],
        "a key is neither in the file nor in the database",
    ),
    "two rows naming each other across chunks": (
        "departments",
        [DEPARTMENT_HEADER, ["A", "a", "C"], ["B", "b", ""], ["C", "c", "A"]],
        "references form a cycle",
    ),
    "row its own parent": (
        "departments",
        [DEPARTMENT_HEADER, ["A", "a", "A"]],
        "references form a cycle",
    ),
    "unknown department code": (
        "users",
        [
            ["email", "first_name", "last_name", "department_codes"],
            ["ann@x.org", "Ann", "Lee", "HQ;GHOST"],
        ],
        "unknown departments key",
    ),
}


@pytest.mark.parametrize(
    ("import_type", "lines", "reason"), SENT_TO_STAGED.values(), ids=SENT_TO_STAGED
)
def test_precheck_sends_what_it_cannot_prove_valid_to_the_staged_path(
    db: Database, csv_file: CsvFile, import_type: str, lines: list[list[str]], reason: str
) -> None:
    """Each kind of problem stops the precheck with its reason (the staged path then reports)."""
    seed(db, csv_file, ["HQ", "Headquarters", ""])
    with pytest.raises(NotLoadable, match=reason):
        precheck(db, import_type, csv_file(lines))


def test_precheck_asks_the_database_per_chunk_when_the_table_is_large(
    db: Database, csv_file: CsvFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the keys it reads at once, existing keys and parents are looked up in batches."""
    seed(db, csv_file, ["HQ", "Headquarters", ""], ["FIN", "Finance", "HQ"])
    monkeypatch.setattr(precheck_module, "READ_ALL_KEYS", 1)
    monkeypatch.setattr(precheck_module, "LOOKUP_BATCH", 1)
    valid = csv_file([DEPARTMENT_HEADER, ["A", "a", "FIN"], ["B", "b", "HQ"], ["C", "c", "A"]])
    assert precheck(db, "departments", valid) == per_table(db, departments=3)
    existing = csv_file([DEPARTMENT_HEADER, ["A", "a", ""], ["B", "b", ""], ["FIN", "f", ""]])
    with pytest.raises(NotLoadable, match="already in the database"):
        precheck(db, "departments", existing)


def test_keys_asked_of_the_database_are_found_exactly_as_written(
    db: Database, csv_file: CsvFile
) -> None:
    """Keys with quotes, backslashes, commas, braces and accents are found as stored; one
    that differs only in case, accents or a trailing space is not."""
    codes = ['Q"1', "B\\2", "C,3", "{D}", "Ünï", "e f", "NULL"]
    seed(db, csv_file, *([code, code, ""] for code in codes))
    asked = [*codes, 'q"1', "e f ", "ÜNÏ", "Uni", "missing"]
    with db.connect() as conn:
        found = db.dialect.existing(conn, db.catalog["departments"].key_column, asked)
    assert found == set(codes)


# The direct path


def test_direct_loader_writes_rows_stamped_with_the_batch_id(
    db: Database, csv_file: CsvFile, rows: Rows
) -> None:
    """Parents earlier, later or already stored resolve; empty flags take the column default."""
    root_batch = seed(db, csv_file, ["ROOT", "Root", ""])
    path = csv_file(
        [
            [*DEPARTMENT_HEADER, "is_active"],
            ["KID", "Kid", "MID", ""],
            ["TOP", "Top", "ROOT", "no"],
            ["MID", "Mid", "TOP", "yes"],
            ["LEAF", "Leaf", "MID", ""],
        ]
    )
    assert load_directly(db, "departments", path, "batch-1") == per_table(db, departments=4)
    written = rows("departments")
    assert [(d["code"], d["name"], d["is_active"], d["import_batch_id"]) for d in written] == [
        ("ROOT", "Root", True, root_batch),
        ("KID", "Kid", True, "batch-1"),
        ("TOP", "Top", False, "batch-1"),
        ("MID", "Mid", True, "batch-1"),
        ("LEAF", "Leaf", True, "batch-1"),
    ]
    assert parents(rows) == {"ROOT": None, "KID": "MID", "TOP": "ROOT", "MID": "TOP", "LEAF": "MID"}


def test_direct_loader_links_each_user_with_the_first_department_primary(
    db: Database, csv_file: CsvFile, rows: Rows
) -> None:
    """One link row per code, stamped like the user; only the first code's link is primary."""
    seed(db, csv_file, *DEPARTMENTS_ROWS[1:])
    path = users_file(
        csv_file,
        ["ann@x.org", "Ann", "Lee", "FIN;HQ"],
        ["bob@x.org", "Bob", "Ray", "OPS"],
        ["cy@x.org", "Cy", "Ng", "HQ;OPS"],
    )
    created = load_directly(db, "users", path, "batch-u")
    assert created == per_table(db, users=3, user_departments=5)
    email = {u["id"]: u["email"] for u in rows("users", import_batch_id="batch-u")}
    code = {d["id"]: d["code"] for d in rows("departments")}
    links = {
        (email[link["user_id"]], code[link["department_id"]], link["is_primary"])
        for link in rows("user_departments", import_batch_id="batch-u")
    }
    assert links == {
        ("ann@x.org", "FIN", True),
        ("ann@x.org", "HQ", False),
        ("bob@x.org", "OPS", True),
        ("cy@x.org", "HQ", True),
        ("cy@x.org", "OPS", False),
    }
    assert [(u["first_name"], u["last_name"]) for u in rows("users")] == [
        ("Ann", "Lee"),
        ("Bob", "Ray"),
        ("Cy", "Ng"),
    ]


REFUSED_BY_DIRECT = {
    "parent nowhere": (
        "departments",
        [DEPARTMENT_HEADER, ["A", "a", "HQ"], ["B", "b", "ZZ"]],
        "parent_id: unknown references",
    ),
    "loop across chunks": (
        "departments",
        [DEPARTMENT_HEADER, ["A", "a", "D"], ["X", "x", ""], ["B", "b", "A"], ["D", "d", "B"]],
        "references form a cycle",
    ),
    "row its own parent": (
        "departments",
        [DEPARTMENT_HEADER, ["A", "a", "A"]],
        "parent_id: unknown references",
    ),
    "unknown department code": (
        "users",
        [
            ["email", "first_name", "last_name", "department_codes"],
            ["ann@x.org", "Ann", "Lee", "HQ"],
            ["bob@x.org", "Bob", "Ray", "HQ;GHOST"],
        ],
        "unknown departments key 'GHOST'",
    ),
}


@pytest.mark.parametrize(
    ("import_type", "lines", "reason"), REFUSED_BY_DIRECT.values(), ids=REFUSED_BY_DIRECT
)
def test_direct_loader_refuses_what_it_cannot_prove_valid(
    db: Database,
    csv_file: CsvFile,
    rows: Rows,
    import_type: str,
    lines: list[list[str]],
    reason: str,
) -> None:
    """Unknown parents or codes and loops stop the load with a reason; its writes roll back."""
    batch_id = seed(db, csv_file, ["HQ", "Headquarters", ""])
    with pytest.raises(NotLoadable, match=reason):
        load_directly(db, import_type, csv_file(lines), "batch-2")
    assert [(d["code"], d["import_batch_id"]) for d in rows("departments")] == [("HQ", batch_id)]
    assert rows("users") == rows("user_departments") == []


@pytest.mark.parametrize(
    "lines",
    [
        [DEPARTMENT_HEADER, ["A", "a", ""], ["B", "b", ""], ["A", "again", ""]],
        [DEPARTMENT_HEADER, ["A", "a", ""], ["HQ", "again", ""]],
    ],
    ids=["repeated in the file", "already in the database"],
)
def test_direct_loader_leaves_repeated_keys_to_the_unique_constraint(
    db: Database, csv_file: CsvFile, rows: Rows, lines: list[list[str]]
) -> None:
    """A key met twice fails the bulk write itself (the import then takes the staged path)."""
    seed(db, csv_file, ["HQ", "Headquarters", ""])
    with pytest.raises(sa.exc.IntegrityError):
        load_directly(db, "departments", csv_file(lines), "batch-3")
    assert [d["code"] for d in rows("departments")] == ["HQ"]


def test_direct_loader_writes_a_child_listed_before_its_parent_in_one_chunk(
    db: Database, csv_file: CsvFile, rows: Rows
) -> None:
    """A parent a few rows further down the same chunk is written directly, not staged
    (SQLite, which checks each row of a bulk write as it goes, too)."""
    path = csv_file([DEPARTMENT_HEADER, ["KID", "k", "TOP"], ["TOP", "t", ""]])
    assert load_directly(db, "departments", path, "batch-4") == per_table(db, departments=2)
    assert parents(rows) == {"KID": "TOP", "TOP": None}


def test_direct_loader_finds_a_loop_within_one_chunk(
    db: Database, csv_file: CsvFile, rows: Rows
) -> None:
    """Two rows of one chunk naming each other are a cycle, and nothing stays written."""
    path = csv_file([DEPARTMENT_HEADER, ["A", "a", "B"], ["B", "b", "A"]])
    with pytest.raises(NotLoadable, match="references form a cycle"):
        load_directly(db, "departments", path, "batch-5")
    assert rows("departments") == []


# The staged path (exact errors)


def test_staged_repeated_keys_name_the_first_row(db: Database, csv_file: CsvFile) -> None:
    """Every later occurrence of a key is an error pointing at the first; the first is not."""
    path = csv_file(
        [DEPARTMENT_HEADER, ["A", "a", ""], ["B", "b", ""], ["A", "a2", ""], ["A", "a3", "B"]]
    )
    assert staged_errors(db, "departments", path) == [
        RowError(4, "code", "A", "code 'A' is also in row 2 of this file"),
        RowError(5, "code", "A", "code 'A' is also in row 2 of this file"),
    ]


def test_staged_existing_keys_name_the_stored_row_and_who_wrote_it(
    db: Database, csv_file: CsvFile, rows: Rows
) -> None:
    """A key already stored is an error naming its id and batch, or that it was typed in."""
    batch_id = seed(db, csv_file, ["HQ", "Headquarters", ""])
    manual_sql(db, "insert into {departments} (code, name) values ('OUT', 'Typed in')")
    ids = {d["code"]: d["id"] for d in rows("departments")}
    path = csv_file([DEPARTMENT_HEADER, ["NEW", "n", ""], ["OUT", "o", ""], ["HQ", "h", ""]])
    assert staged_errors(db, "departments", path) == [
        RowError(
            3,
            "code",
            "OUT",
            f"code 'OUT' already exists in the database (departments id {ids['OUT']}, "
            "entered outside batchport)",
        ),
        RowError(
            4,
            "code",
            "HQ",
            f"code 'HQ' already exists in the database (departments id {ids['HQ']}, "
            f"imported by batch {batch_id})",
        ),
    ]


@pytest.mark.parametrize("on_existing", ["skip", "update"])
def test_staged_existing_keys_are_no_error_when_rows_may_be_skipped_or_updated(
    db: Database, csv_file: CsvFile, on_existing: str
) -> None:
    """With skip or update a stored key is allowed; a key repeated in the file still is not."""
    seed(db, csv_file, ["HQ", "Headquarters", ""])
    path = csv_file([DEPARTMENT_HEADER, ["HQ", "h", ""], ["A", "a", "HQ"], ["HQ", "h2", ""]])
    assert staged_errors(db, "departments", path, on_existing=on_existing) == [
        RowError(4, "code", "HQ", "code 'HQ' is also in row 2 of this file"),
    ]


def test_staged_unknown_parent_says_where_it_was_looked_for(
    db: Database, csv_file: CsvFile
) -> None:
    """A parent neither stored nor in the file is an error; later and stored parents are not."""
    seed(db, csv_file, ["ROOT", "Root", ""])
    path = csv_file(
        [
            DEPARTMENT_HEADER,
            ["KID", "k", "MID"],
            ["MID", "m", "ROOT"],
            ["LOST", "l", "ZZ"],
            ["TOP", "t", ""],
        ]
    )
    assert staged_errors(db, "departments", path) == [
        RowError(
            4, "parent_code", "ZZ", "no departments row has code 'ZZ' in the database or this file"
        ),
    ]


def test_staged_unknown_link_targets_name_each_missing_code(
    db: Database, csv_file: CsvFile
) -> None:
    """Each unknown department code of a user is its own error; known codes beside it are not."""
    seed(db, csv_file, *DEPARTMENTS_ROWS[1:])
    path = users_file(
        csv_file,
        ["ann@x.org", "Ann", "Lee", "HQ;GHOST"],
        ["bob@x.org", "Bob", "Ray", "FIN"],
        ["cy@x.org", "Cy", "Ng", "NOPE;OPS;ZZ"],
    )
    assert staged_errors(db, "users", path) == [
        RowError(
            2, "department_codes", "GHOST", "no departments row has code 'GHOST' in the database"
        ),
        RowError(
            4, "department_codes", "NOPE", "no departments row has code 'NOPE' in the database"
        ),
        RowError(4, "department_codes", "ZZ", "no departments row has code 'ZZ' in the database"),
    ]


def test_staged_cycles_name_every_row_on_the_loop_and_only_those(
    db: Database, csv_file: CsvFile
) -> None:
    """Rows on a loop (or their own parent) are errors; a row merely hanging off a loop is not."""
    path = csv_file(
        [
            DEPARTMENT_HEADER,
            ["A", "a", "B"],
            ["B", "b", "C"],
            ["C", "c", "A"],
            ["D", "d", "A"],
            ["E", "e", "E"],
            ["F", "f", ""],
        ]
    )

    def loop(row: int, code: str, parent: str) -> RowError:
        message = f"code {code!r} would be its own ancestor: its parent_code chain leads back to it"
        return RowError(row, "parent_code", parent, message)

    assert staged_errors(db, "departments", path) == [
        loop(2, "A", "B"),
        loop(3, "B", "C"),
        loop(4, "C", "A"),
        loop(6, "E", "E"),
    ]


# A reference to another import type, on every path


def test_a_reference_to_another_type_must_already_be_in_the_database(
    db: Database, csv_file: CsvFile, rows: Rows
) -> None:
    """A parent only in the file is unknown to each path; one already stored is found by each."""
    seed(db, csv_file, ["HQ", "Headquarters", ""])
    catalog = with_branches(db)
    stored = csv_file([DEPARTMENT_HEADER, ["S1", "s1", "HQ"], ["S2", "s2", ""]], name="ok.csv")
    assert precheck(db, "branches", stored, catalog) == per_table(db, departments=2)
    assert staged_errors(db, "branches", stored, catalog=catalog) == []

    in_file = csv_file([DEPARTMENT_HEADER, ["S1", "s1", "HQ"], ["S2", "s2", "S1"]])
    with pytest.raises(NotLoadable, match="unknown departments key"):
        precheck(db, "branches", in_file, catalog)
    with pytest.raises(NotLoadable, match="unknown departments key"):
        load_directly(db, "branches", in_file, "batch-b", catalog)
    assert staged_errors(db, "branches", in_file, catalog=catalog) == [
        RowError(3, "parent_code", "S1", "no departments row has code 'S1' in the database"),
    ]

    assert load_directly(db, "branches", stored, "batch-b", catalog) == per_table(db, departments=2)
    assert parents(rows) == {"HQ": None, "S1": "HQ", "S2": None}
