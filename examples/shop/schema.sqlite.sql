-- The shop's tables on SQLite, as an application of your own would have them; batchport
-- adds its tracking columns with `batchport db track` (README.md). AUTOINCREMENT keeps ids
-- from being handed out again after a rollback deletes rows.
CREATE TABLE suppliers (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    code    VARCHAR(20)  NOT NULL UNIQUE,
    name    VARCHAR(100) NOT NULL,
    email   VARCHAR(255),
    country CHAR(2)
);

CREATE TABLE products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sku         VARCHAR(30)    NOT NULL UNIQUE,
    name        VARCHAR(200)   NOT NULL,
    supplier_id INTEGER        NOT NULL REFERENCES suppliers (id),
    price       NUMERIC(10, 2) NOT NULL CHECK (price >= 0),
    stock       INTEGER        NOT NULL DEFAULT 0 CHECK (stock >= 0),
    released_on DATE,
    status      VARCHAR(12)    NOT NULL DEFAULT 'active'
                CHECK (status IN ('draft', 'active', 'discontinued'))
);

CREATE TABLE tags (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    code VARCHAR(30)  NOT NULL UNIQUE,
    name VARCHAR(100) NOT NULL
);

-- A link table: one row per tag on a product.
CREATE TABLE product_tags (
    product_id INTEGER NOT NULL REFERENCES products (id),
    tag_id     INTEGER NOT NULL REFERENCES tags (id),
    PRIMARY KEY (product_id, tag_id)
);
CREATE INDEX product_tags_tag_id_index ON product_tags (tag_id);
