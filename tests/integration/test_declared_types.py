"""An import type of one's own, from a table of one's own: scaffolded from the database,
tracked with `db track`, imported and rolled back through the CLI, on SQLite and PostgreSQL —
and refused, with the command that fixes it, while its table is not tracked."""

from __future__ import annotations

import json

import sqlalchemy as sa

from batchport import BUILTIN_TYPES, Database

SHOP = (
    "CREATE TABLE suppliers (id {serial} PRIMARY KEY, code VARCHAR(20) NOT NULL UNIQUE, "
    "name VARCHAR(100) NOT NULL)",
    "CREATE TABLE products (id {serial} PRIMARY KEY, sku VARCHAR(30) NOT NULL UNIQUE, "
    "name VARCHAR(100) NOT NULL, qty INTEGER, released DATE, "
    "supplier_id INTEGER NOT NULL REFERENCES suppliers (id), "
    "parent_id INTEGER REFERENCES products (id))",
)


def make_shop(url: str) -> None:
    db = Database.from_url(url, catalog=BUILTIN_TYPES)
    serial = "SERIAL" if db.dialect.name == "postgresql" else "INTEGER"
    with db.engine.begin() as conn:
        for statement in SHOP:
            conn.exec_driver_sql(statement.format(serial=serial))
    db.dispose()


def test_a_table_of_ones_own_is_scaffolded_tracked_imported_and_rolled_back(
    cli, database_url, tmp_path, monkeypatch
):
    make_shop(database_url)
    monkeypatch.chdir(tmp_path)
    scaffolds = [cli("types", "scaffold", table) for table in ("suppliers", "products")]
    assert all(s.exit_code == 0 for s in scaffolds), [s.output for s in scaffolds]
    (tmp_path / "batchport.toml").write_text("\n".join(s.output for s in scaffolds))
    assert 'references = "products"' in scaffolds[1].output  # the hierarchy, by its own key

    refused = cli("types")
    assert refused.exit_code == 1
    assert "table suppliers is not tracked: run `batchport db track suppliers`" in refused.output

    tracked = cli("db", "track", "suppliers", "products")
    assert tracked.exit_code == 0, tracked.output
    listed = cli("types")
    assert "products → products" in listed.output and "supplier_code" in listed.output

    (tmp_path / "s.csv").write_text("code,name\nACME,Acme Ltd\nGLOBEX,Globex\n")
    (tmp_path / "p.csv").write_text(
        "sku,name,qty,released,supplier_code,parent_sku\n"
        'KIT,Kit,"1,200",46004,ACME,\n'
        "P1,Widget,5,2025-01-02,GLOBEX,KIT\n"
    )
    assert cli("import", "suppliers", "s.csv").exit_code == 0
    imported = cli("import", "products", "p.csv", "--json")
    assert imported.exit_code == 0, imported.output
    batch_id = json.loads(imported.output)["batch_id"]

    db = Database.from_url(database_url, catalog=BUILTIN_TYPES)
    with db.engine.connect() as conn:
        found = conn.execute(
            sa.text(
                "SELECT p.sku, p.qty, p.released, s.code, parent.sku FROM products p "
                "JOIN suppliers s ON s.id = p.supplier_id "
                "LEFT JOIN products parent ON parent.id = p.parent_id ORDER BY p.sku"
            )
        ).all()
    assert [(sku, qty, str(day), code, parent) for sku, qty, day, code, parent in found] == [
        ("KIT", 1200, "2025-12-13", "ACME", None),
        ("P1", 5, "2025-01-02", "GLOBEX", "KIT"),
    ]

    bad = tmp_path / "bad.csv"
    bad.write_text("sku,name,qty,released,supplier_code\nX1,X,many,03/04/2025,NOPE\n")
    rejected = cli("import", "products", str(bad), "--json")
    assert rejected.exit_code == 1
    problems = {e["column"]: e["message"] for e in json.loads(rejected.output)["errors"]}
    assert set(problems) == {"qty", "released", "supplier_code"}

    with db.engine.begin() as conn:  # a hand edit since the import blocks the rollback
        conn.execute(sa.text("UPDATE products SET name = 'Hand' WHERE sku = 'P1'"))
    blocked = cli("rollback", batch_id, "--yes")
    assert blocked.exit_code == 1 and "edited after the import" in blocked.output
    assert cli("rollback", batch_id, "--yes", "--force-edited").exit_code == 0
    with db.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM products")).scalar_one()
        suppliers = conn.execute(sa.text("SELECT count(*) FROM suppliers")).scalar_one()
    db.dispose()
    assert (left, suppliers) == (0, 2)
