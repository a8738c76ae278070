-- The shop's tables on PostgreSQL, as an application of your own would have them; batchport
-- adds its tracking columns with `batchport db track` (README.md). schema.sqlite.sql is the
-- same schema for SQLite.
CREATE TABLE suppliers (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code    varchar(20)  NOT NULL UNIQUE,
    name    varchar(100) NOT NULL,
    email   varchar(255),
    country char(2)
);

CREATE TABLE products (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku         varchar(30)    NOT NULL UNIQUE,
    name        varchar(200)   NOT NULL,
    supplier_id bigint         NOT NULL REFERENCES suppliers (id),
    price       numeric(10, 2) NOT NULL CHECK (price >= 0),
    stock       integer        NOT NULL DEFAULT 0 CHECK (stock >= 0),
    released_on date,
    status      varchar(12)    NOT NULL DEFAULT 'active'
                CHECK (status IN ('draft', 'active', 'discontinued'))
);

CREATE TABLE tags (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code varchar(30)  NOT NULL UNIQUE,
    name varchar(100) NOT NULL
);

-- A link table: one row per tag on a product.
CREATE TABLE product_tags (
    product_id bigint NOT NULL REFERENCES products (id),
    tag_id     bigint NOT NULL REFERENCES tags (id),
    PRIMARY KEY (product_id, tag_id)
);
CREATE INDEX product_tags_tag_id_index ON product_tags (tag_id);
