"""Cycles in the references rows of one import type make among themselves (a parent chain):
in memory for the dry run's precheck, and in SQL, in time n log n, for every other path.

A row's parents form a chain, so one reference of a type to itself makes a graph in which each
node has at most one parent. Walking each node's chain would cost the chain's length per node
(quadratic on a deep chain); pointer jumping instead replaces, in each round and for every
node at once, its ancestor by that ancestor's ancestor, so after k rounds each node knows its
ancestor 2**k steps up, and about log2(n) set-based statements settle every node.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa


def has_cycle(parents: dict[Any, list[Any]]) -> bool:
    """Whether following references from some key leads back to it."""
    done: set[Any] = set()
    for start, first in parents.items():
        if start in done:
            continue
        on_path = {start}
        stack = [(start, iter(first))]
        while stack:
            node, edges = stack[-1]
            step = next(edges, None)
            if step is None:
                stack.pop()
                on_path.discard(node)
                done.add(node)
            elif step in on_path:
                return True
            elif step not in done and step in parents:
                on_path.add(step)
                stack.append((step, iter(parents[step])))
    return False


def has_loop(parents: dict[Any, Any]) -> bool:
    """Whether following each key's one parent (None, or a key not in `parents`, ends the
    chain) from some key leads back to it; in time and memory linear in the keys."""
    done: set[Any] = set()
    for start in parents:
        path: set[Any] = set()
        key = start
        while key in parents and key not in done:
            if key in path:
                return True
            path.add(key)
            key = parents[key]
        done |= path
    return False


def ancestry(
    table: sa.Table,
    column: str,
    starts: sa.Select[Any],
    within: Callable[[sa.FromClause], sa.ColumnElement[bool]] = lambda _rows: sa.true(),
) -> sa.Select[Any]:
    """The (id, parent id) pairs of the rows on the `column` chains that start at `starts` (a
    query of ids), starting rows included, as far as rows pass `within` (given the table).

    One recursive query; UNION, unlike UNION ALL, never visits a row twice, so however many
    starts share a chain it is read once, in time linear in the rows reached.
    """
    reach = (
        sa.select(table.c.id.label("id"))
        .where(table.c.id.in_(starts))
        .cte(f"reach_{uuid.uuid4().hex[:8]}", recursive=True)
    )
    step = table.alias("step")
    reach = reach.union(
        sa.select(step.c[column])
        .join(reach, step.c.id == reach.c.id)
        .where(step.c[column].is_not(None), within(step))
    )
    return sa.select(table.c.id, table.c[column]).where(
        table.c.id.in_(sa.select(reach.c.id)), table.c[column].is_not(None), within(table)
    )


@contextmanager
def on_cycles(
    conn: sa.Connection, edges: sa.Select[Any], node: sa.types.TypeEngine[Any]
) -> Iterator[sa.Select[Any]]:
    """Yields a query of the nodes that lie on a cycle of `edges`, a query of (node, parent)
    pairs in which a node appears at most once and a parent that is no node ends its chain.

    The pairs go to a temporary table; each round builds the next table of (node, ancestor
    twice as far up), leaving out nodes whose chain ends sooner. Once the jump is at least as
    long as the graph has nodes, only nodes that lead into a cycle are left, and the ancestors
    they point at are exactly the nodes on a cycle. A graph with no cycle empties after about
    log2 of its deepest chain rounds; the tables are dropped when the caller is done.
    """
    name = f"bp_jump_{uuid.uuid4().hex[:12]}"
    current, left = _filled(conn, f"{name}_0", node, edges)
    for round_ in range(1, left.bit_length() + 2):
        if not left:
            break
        ahead = current.alias("ahead")
        jumped = sa.select(current.c.node, ahead.c.up).join(ahead, ahead.c.node == current.c.up)
        following, left = _filled(conn, f"{name}_{round_}", node, jumped)
        current.drop(conn)
        current = following
    yield sa.select(current.c.up).distinct()
    current.drop(conn)


def _filled(
    conn: sa.Connection, name: str, node: sa.types.TypeEngine[Any], rows: sa.Select[Any]
) -> tuple[sa.Table, int]:
    """A new temporary table of (node, up) holding `rows`, and how many rows it holds."""
    table = sa.Table(
        name,
        sa.MetaData(),
        # No key nor index: PostgreSQL hash-joins it as it is, SQLite indexes it for the
        # join on the fly, and rows go in faster than into an index in random order.
        sa.Column("node", node, nullable=False),
        sa.Column("up", node, nullable=False),
        prefixes=["TEMPORARY"],
    )
    table.create(conn)
    conn.execute(table.insert().from_select(["node", "up"], rows))
    # Counted, not taken from the rowcount: a statement that starts with WITH (a recursive
    # `edges`, as SQLite gets it) reports none.
    return table, conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
