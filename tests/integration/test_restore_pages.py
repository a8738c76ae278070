"""The restore of an update batch read from the change log a page at a time and written
set-based: every page restored alike, rows listed in the order the batch logged them, forced
restores that keep the sign of an edit, link rows exactly as they were."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from batchport import RowsEdited, preview_rollback, rollback_batch, run_import
from batchport.rollback import changelog, restore, staged
from batchport.rollback.putback import PutBack
from batchport.schema import import_changes
from tests.helpers import DEPARTMENTS, manual_sql, per_table, update_users, users_file

pytestmark = pytest.mark.types("shipped", "declared")

#: Seven users, each in one or two departments.
PEOPLE = [[f"u{n}@x.org", f"First{n}", f"Last{n}", "HQ;FIN" if n % 2 else "OPS"] for n in range(7)]


@pytest.fixture
def small_pages(monkeypatch):
    """Change-log pages of two entries, so that seven entries take four pages."""
    monkeypatch.setattr(changelog, "PAGE", 2)


@pytest.fixture
def people(db, csv_file):
    """Departments, then the seven users, as one batch."""
    run_import(db, "departments", csv_file(DEPARTMENTS, name="departments.csv"), actor="a")
    return run_import(db, "users", users_file(csv_file, *PEOPLE), actor="a")


def update_all(db, csv_file):
    """Renames every user but u1, moves u1, u4 and u6 to other departments (u1's entry has
    no name to put back, the others have) and adds a user; the file lists the users
    backwards, so the change log's order is not the order of ids."""
    changed = [
        [email, first if n == 1 else f"New{n}", last, "FIN;OPS" if n in {1, 4, 6} else codes]
        for n, (email, first, last, codes) in enumerate(PEOPLE)
    ]
    return update_users(db, csv_file, *reversed(changed), ["new@x.org", "New", "User", "HQ"])


def edit_and_delete(db):
    """Edits u5's last name by hand and deletes u2 (and its link rows) by hand."""
    manual_sql(db, "UPDATE {users} SET last_name = 'Edited' WHERE email = 'u5@x.org'")
    manual_sql(
        db,
        "DELETE FROM {user_departments} WHERE user_id = "
        "(SELECT id FROM {users} WHERE email = 'u2@x.org')",
    )
    manual_sql(db, "DELETE FROM {users} WHERE email = 'u2@x.org'")


def by_email(rows):
    return {row["email"]: row for row in rows("users")}


def test_a_rollback_over_many_pages_restores_every_row_and_link(
    db, csv_file, rows, people, small_pages
):
    """Seven updated users read two at a time: each gets its name, row version, update time
    and link rows (their stamps and creation times too) back exactly, u1 (whose name the
    batch left alone) its links only; the user and the link rows the batch created are
    deleted."""
    users_before, links_before = rows("users"), rows("user_departments")
    update = update_all(db, csv_file)
    assert {u["first_name"] for u in rows("users")} >= {f"New{n}" for n in (0, 2, 3, 4, 5, 6)}
    done = rollback_batch(db, update.batch_id, actor="b")
    assert done.restored == per_table(db, users=7)
    assert rows("users") == users_before
    assert rows("user_departments") == links_before


def test_rows_edited_on_several_pages_are_listed_in_the_batch_s_order(
    db, csv_file, rows, people, small_pages
):
    """u5 edited by hand and u2 deleted: both listed (u2 as gone), in the order the batch
    logged them, whatever order pages read them in; nothing changes until the rollback is
    forced."""
    update = update_all(db, csv_file)
    ids = {email: row["id"] for email, row in by_email(rows).items()}
    edit_and_delete(db)
    with db.connect() as conn:
        logged = (
            conn.execute(
                sa.select(import_changes.c.row_id)
                .where(import_changes.c.batch_id == update.batch_id)
                .order_by(import_changes.c.id)
            )
            .scalars()
            .all()
        )
    listed = sorted(
        [("u5@x.org", False), ("u2@x.org", True)], key=lambda e: logged.index(ids[e[0]])
    )
    preview = preview_rollback(db, update.batch_id)
    assert [(e.key, e.gone) for e in preview.edited] == listed
    before = rows("users")
    with pytest.raises(RowsEdited) as refused:
        rollback_batch(db, update.batch_id, actor="b")
    assert [(e.key, e.gone) for e in refused.value.edited] == listed
    assert rows("users") == before


def test_a_forced_restore_puts_an_edited_row_s_version_past_both(
    db, csv_file, rows, people, small_pages
):
    """u5 edited twice by hand after the update (row version 3): forced, its first name
    comes back, the hand-made last name stays, and its row version is one past both its own
    and the batch's (4), so every other batch still sees the edit; the unedited rows go back
    to the versions they had; u2, gone, is skipped."""
    users_before = by_email(rows)
    update = update_all(db, csv_file)
    edit_and_delete(db)
    manual_sql(db, "UPDATE {users} SET last_name = 'Edited again' WHERE email = 'u5@x.org'")
    assert by_email(rows)["u5@x.org"]["row_version"] == 3
    done = rollback_batch(db, update.batch_id, actor="b", force_edited=True)
    assert done.restored == per_table(db, users=6)
    after = by_email(rows)
    assert after["u5@x.org"] == users_before["u5@x.org"] | {
        "last_name": "Edited again",
        "row_version": 4,
    }
    assert "u2@x.org" not in after and "new@x.org" not in after
    for email in ("u0@x.org", "u1@x.org", "u3@x.org", "u4@x.org", "u6@x.org"):
        assert after[email] == users_before[email]


def test_link_rows_another_writer_added_block_then_go_when_forced(
    db, csv_file, rows, people, small_pages
):
    """After the batch moved u4, another program links u4 to HQ too: the batch's rollback
    lists u4 as edited; forced, u4's link rows are exactly those it had before the batch
    (the program's row goes with the batch's), and u4 keeps the sign of the edit."""
    links_before = rows("user_departments")
    update = update_all(db, csv_file)
    manual_sql(
        db,
        "INSERT INTO {user_departments} (user_id, department_id, is_primary) "
        "SELECT u.id, d.id, false FROM {users} u, {departments} d "
        "WHERE u.email = 'u4@x.org' AND d.code = 'HQ'",
    )
    assert [e.key for e in preview_rollback(db, update.batch_id).edited] == ["u4@x.org"]
    with pytest.raises(RowsEdited):
        rollback_batch(db, update.batch_id, actor="b")
    rollback_batch(db, update.batch_id, actor="b", force_edited=True)
    assert rows("user_departments") == links_before
    [u4] = rows("users", email="u4@x.org")
    assert u4["row_version"] > 0
    with pytest.raises(RowsEdited):
        rollback_batch(db, people.batch_id, actor="a")


def test_a_page_of_one_entry_after_full_pages(db, csv_file, rows, people, monkeypatch):
    """Pages of three entries for seven rows (the last page holds one): the rollback restores
    all seven, as with one page."""
    monkeypatch.setattr(changelog, "PAGE", 3)
    users_before = rows("users")
    update = update_all(db, csv_file)
    assert rollback_batch(db, update.batch_id, actor="b").restored == per_table(db, users=7)
    assert rows("users") == users_before


def test_a_change_log_spaced_by_another_hand_restores_alike(db, csv_file, rows, people):
    """Entries whose documents begin with spaces (a log written or rewritten by other
    software) are read as any other: every row and link comes back exactly."""
    users_before, links_before = rows("users"), rows("user_departments")
    update = update_all(db, csv_file)
    c = import_changes.c
    with db.engine.begin() as conn:
        spaced = conn.execute(
            import_changes.update()
            .where(c.batch_id == update.batch_id, c.prior_links.is_not(None))
            .values(
                prior=sa.literal("  ") + c.prior,
                row_key=sa.literal("\n") + c.row_key,
                prior_links=sa.literal(" ") + c.prior_links,
            )
        ).rowcount
    assert spaced == 3  # u1, u4 and u6 were moved
    done = rollback_batch(db, update.batch_id, actor="b")
    assert done.restored == per_table(db, users=7)
    assert rows("users") == users_before
    assert rows("user_departments") == links_before


def test_the_database_stages_the_plan_the_pass_stages(db, csv_file, people):
    """On PostgreSQL the database stages the restore's plan itself: the same rows, states,
    versions, prior values and link rows as the pass over the change log stages, with a row
    edited since, a row gone, and link rows logged without a column (as before it came)
    and without their stamp among them."""
    if db.dialect.name != "postgresql":
        pytest.skip("the database stages the plan on PostgreSQL only")
    update = update_all(db, csv_file)
    edit_and_delete(db)
    users = db.catalog["users"]
    [link] = users.links
    later = next(c.key for c in link.table.c if c.key not in link.table.primary_key.columns)
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE import_changes SET prior_links = (prior_links::jsonb #- :later "
                "#- :stamp)::text WHERE batch_id = :batch AND prior_links IS NOT NULL"
            ),
            {
                "later": [link.table.name, "0", later],
                "stamp": [link.table.name, "0", "import_batch_id"],
                "batch": update.batch_id,
            },
        )
    with db.engine.connect() as conn:
        by_database = PutBack(conn, db.dialect, users)
        edited = staged.stage(by_database, db.catalog, db.dialect.log_json(), update.batch_id)
        by_pass, passed = PutBack(conn, db.dialect, users), []
        for entries in changelog.pages(conn, db.dialect, users, update.batch_id):
            passed += restore._stage(users, entries, by_pass)
            by_pass.flush()

        def content(putting):
            tables = putting.temporaries()
            return [sorted(map(tuple, conn.execute(sa.select(t)))) for t in tables]

        assert by_database.in_database and not by_pass.in_database
        assert content(by_database) == content(by_pass)
        assert len(content(by_pass)[0]) == 7 and len(content(by_pass)[1]) == 4
        assert (by_database.count, by_database.used) == (by_pass.count, by_pass.used)
        assert by_database.partial == by_pass.partial
        assert sum(map(len, by_pass.partial.values())) == 3
        assert sorted(edited) == sorted(passed)
        assert [(row.key, row.gone) for _, row in sorted(edited)] in (
            [("u5@x.org", False), ("u2@x.org", True)],
            [("u2@x.org", True), ("u5@x.org", False)],
        )
        conn.rollback()
