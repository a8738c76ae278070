"""The import types batchport ships, departments and users: declared in the shipped types
file (`configuration/default.toml`) like any user's own, over batchport's own tables."""

from __future__ import annotations

from batchport.configuration.load import SHIPPED, TypesSource, parse, shipped_text

BUILTIN_TYPES = TypesSource(SHIPPED, parse(shipped_text(), SHIPPED)).catalog()
DEPARTMENTS = BUILTIN_TYPES["departments"]
USERS = BUILTIN_TYPES["users"]
