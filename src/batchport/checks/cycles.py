"""Cycles in the references rows of one import type make among themselves (a parent chain)."""

from __future__ import annotations

from typing import Any


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
