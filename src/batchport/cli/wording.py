"""Counts as people write them: `1 department`, `12,345 users`, `3 departments and 2 users`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def counted(count: int, noun: str) -> str:
    """`count` with thousands separators and `noun` (a table's plural name) singular for 1:
    `1 department`, `0 users`, `1,000 user_departments`."""
    return f"{count:,} {singular(noun) if count == 1 else noun}"


def singular(noun: str) -> str:
    """A plural table name made singular (`departments` → `department`); other names as they
    are."""
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    if noun.endswith("ses") or noun.endswith("xes"):
        return noun[:-2]
    if noun.endswith("s") and not noun.endswith("ss"):
        return noun[:-1]
    return noun


def listed(parts: Iterable[str], *, none: str = "nothing") -> str:
    """`a`, `a and b`, `a, b and c`; `none` for no parts."""
    items = list(parts)
    if not items:
        return none
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def tables(counts: Mapping[str, int], *, none: str = "no rows") -> str:
    """Rows per table as words, leaving out tables with none: `10 departments and 1 user`."""
    return listed((counted(n, table) for table, n in counts.items() if n), none=none)
