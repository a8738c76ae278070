"""Updates touch only the rows the file changes: unchanged rows keep their version and leave
no change-log entry, links change as a difference (a flag in place, a link row kept with its
stamp), and a rollback puts back exactly what the update changed, across many pages."""

from __future__ import annotations

import threading

import pytest

from batchport import get_batch, rollback_batch, run_import
from batchport.loading import update
from tests.helpers import DEPARTMENTS, manual_sql, per_table, table_name, update_users

pytestmark = pytest.mark.types("shipped", "declared")


def by_email(rows):
    return {user["email"]: user for user in rows("users")}


def links_of(rows, email):
    """The user's link rows, keyed by department code."""
    codes = {d["id"]: d["code"] for d in rows("departments")}
    [user] = rows("users", email=email)
    return {codes[r["department_id"]]: r for r in rows("user_departments", user_id=user["id"])}


def test_unchanged_rows_keep_their_version_and_leave_no_entry(db, csv_file, rows, users_batch):
    """Of two users in the file, the one whose values and links are as stored is counted
    unchanged: its row (version included) and links stay exactly as they were, and the batch
    restores only the other."""
    before = by_email(rows)
    links_before = rows("user_departments")
    report = update_users(
        db, csv_file, ["ann@x.org", "Annie", "Lee", "HQ"], ["bob@x.org", "Bob", "Ray", "FIN"]
    )
    assert (report.updated, report.unchanged) == (1, 1)
    after = by_email(rows)
    assert after["bob@x.org"] == before["bob@x.org"]
    assert after["ann@x.org"]["row_version"] == before["ann@x.org"]["row_version"] + 1
    assert rows("user_departments") == links_before
    assert get_batch(db, report.batch_id).updated == per_table(db, users=1)
    rollback_batch(db, report.batch_id, actor="b")
    assert by_email(rows) == before


def test_a_file_with_nothing_new_changes_nothing(db, csv_file, rows, users_batch):
    """A file exactly as stored updates nothing and writes nothing."""
    before = (rows("users"), rows("user_departments"))
    report = update_users(
        db, csv_file, ["ann@x.org", "Ann", "Lee", "HQ"], ["bob@x.org", "Bob", "Ray", "FIN"]
    )
    assert (report.updated, report.unchanged) == (0, 2)
    assert report.created == per_table(db, users=0, user_departments=0)
    assert (rows("users"), rows("user_departments")) == before
    assert get_batch(db, report.batch_id).updated == {}


def test_only_links_changed(db, csv_file, rows, users_batch):
    """A user whose values stay but whose departments change is updated (one version more):
    the dropped link row is deleted, the new ones carry the batch's stamp; the rollback puts
    the old link row back as it was."""
    before = by_email(rows)
    links_before = rows("user_departments")
    report = update_users(db, csv_file, ["ann@x.org", "Ann", "Lee", "OPS;FIN"])
    assert (report.updated, report.unchanged) == (1, 0)
    assert report.created[table_name(db, "user_departments")] == 2
    ann = by_email(rows)["ann@x.org"]
    assert ann["row_version"] == before["ann@x.org"]["row_version"] + 1
    assert (ann["first_name"], ann["last_name"]) == ("Ann", "Lee")
    links = links_of(rows, "ann@x.org")
    assert {code: (r["is_primary"], r["import_batch_id"]) for code, r in links.items()} == {
        "OPS": (True, report.batch_id),
        "FIN": (False, report.batch_id),
    }
    rollback_batch(db, report.batch_id, actor="b")
    assert rows("user_departments") == links_before
    assert by_email(rows) == before


def test_a_flag_only_change_keeps_the_link_rows(db, csv_file, rows, users_batch):
    """Swapping which department is primary sets the flags in place: no link row is deleted
    or inserted, each keeps its stamp and creation time; the rollback swaps them back."""
    first = update_users(db, csv_file, ["ann@x.org", "Ann", "Lee", "HQ;OPS"], name="two.csv")
    kept = links_of(rows, "ann@x.org")
    swapped = update_users(db, csv_file, ["ann@x.org", "Ann", "Lee", "OPS;HQ"], name="swap.csv")
    assert swapped.updated == 1
    assert swapped.created[table_name(db, "user_departments")] == 0
    links = links_of(rows, "ann@x.org")
    assert {code: r["is_primary"] for code, r in links.items()} == {"HQ": False, "OPS": True}
    for code, row in links.items():
        assert (row["import_batch_id"], row["created_at"]) == (
            kept[code]["import_batch_id"],
            kept[code]["created_at"],
        )
    assert kept["OPS"]["import_batch_id"] == first.batch_id
    rollback_batch(db, swapped.batch_id, actor="b")
    assert links_of(rows, "ann@x.org") == kept


def test_a_hand_made_link_is_kept_or_dropped_as_the_file_says(db, csv_file, rows, users_batch):
    """A link row another writer added (no stamp) stays untouched while the file names it;
    a file that drops it deletes it, and that batch's rollback puts it back, unstamped."""
    manual_sql(
        db,
        "INSERT INTO {user_departments} (user_id, department_id, is_primary) "
        "SELECT u.id, d.id, false FROM {users} u, {departments} d "
        "WHERE u.email = 'ann@x.org' AND d.code = 'OPS'",
    )
    by_hand = links_of(rows, "ann@x.org")["OPS"]
    kept = update_users(db, csv_file, ["ann@x.org", "Annie", "Lee", "HQ;OPS"], name="keep.csv")
    assert kept.created[table_name(db, "user_departments")] == 0
    assert links_of(rows, "ann@x.org")["OPS"] == by_hand
    dropped = update_users(db, csv_file, ["ann@x.org", "Annie", "Lee", "HQ"], name="drop.csv")
    assert dropped.updated == 1 and "OPS" not in links_of(rows, "ann@x.org")
    rollback_batch(db, dropped.batch_id, actor="b")
    assert links_of(rows, "ann@x.org")["OPS"] == by_hand


def test_changes_spread_over_many_pages_are_all_logged(
    db, csv_file, rows, monkeypatch: pytest.MonkeyPatch
):
    """With changed rows read a few at a time, rows changed by value, by links, by both, and
    unchanged ones, in any order, are each updated once and all restored by the rollback."""
    monkeypatch.setattr(update, "PAGE", 2)

    run_import(db, "departments", csv_file(DEPARTMENTS, name="departments.csv"), actor="a")
    people = [[f"u{i}@x.org", f"First{i}", "Last", "HQ" if i % 2 else "FIN;OPS"] for i in range(9)]
    run_import(
        db,
        "users",
        csv_file(
            [["email", "first_name", "last_name", "department_codes"], *people], name="users.csv"
        ),
        actor="a",
    )
    before = (rows("users"), rows("user_departments"))
    changed = [list(p) for p in people]
    changed[1][1] = "Renamed"  # value
    changed[2][3] = "OPS;FIN"  # flags only
    changed[4][3] = "OPS"  # a link dropped, one added
    changed[5][1], changed[5][3] = "Both", "FIN"  # value and links
    changed[8][2] = "Other"  # value, last page
    report = update_users(db, csv_file, *reversed(changed))
    assert (report.updated, report.unchanged) == (5, 4)
    stored = by_email(rows)
    assert stored["u1@x.org"]["first_name"] == "Renamed"
    assert stored["u8@x.org"]["last_name"] == "Other"
    assert {k: r["is_primary"] for k, r in links_of(rows, "u2@x.org").items()} == {
        "OPS": True,
        "FIN": False,
    }
    assert set(links_of(rows, "u4@x.org")) == {"OPS"}
    assert set(links_of(rows, "u5@x.org")) == {"FIN"}
    assert get_batch(db, report.batch_id).updated == per_table(db, users=5)
    rollback_batch(db, report.batch_id, actor="b")
    assert (rows("users"), rows("user_departments")) == before


def test_a_link_row_another_writer_adds_meanwhile_is_never_lost(
    db, csv_file, rows, users_batch, monkeypatch
):
    """While an update moves ann from HQ to FIN, another program links her to OPS. Its row
    waits for the import to end (her row is held before her link rows are read for the
    change log), then lands: the import never deletes a link row it did not log."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue: nothing is linked while an import writes")
    written = []

    def other_writer() -> None:
        manual_sql(
            db,
            "INSERT INTO {user_departments} (user_id, department_id, is_primary) "
            "SELECT u.id, d.id, false FROM {users} u, {departments} d "
            "WHERE u.email = 'ann@x.org' AND d.code = 'OPS'",
        )
        written.append(True)

    real = update.relink
    writer = threading.Thread(target=other_writer)

    def relink(*args, **kwargs):
        if not writer.is_alive() and not written:
            writer.start()
            writer.join(timeout=2)  # it commits now, unless the import holds ann
        return real(*args, **kwargs)

    monkeypatch.setattr(update, "relink", relink)
    report = update_users(db, csv_file, ["ann@x.org", "Ann", "Lee", "FIN"])
    writer.join(timeout=30)
    assert report.updated == 1 and written
    assert set(links_of(rows, "ann@x.org")) == {"FIN", "OPS"}
