"""The import types batchport ships: departments and users, declared like any user's own."""

from __future__ import annotations

from batchport.columns.parsers import Boolean, Email, KeyList, Text
from batchport.declarations import Catalog, Field, ImportType, Link, Reference
from batchport.schema import departments, user_departments, users

DEPARTMENTS = ImportType(
    name="departments",
    description="Departments with an optional parent department (by code).",
    table=departments,
    key="code",
    fields=(
        Field("code", Text(50), required=True, column="code"),
        Field("name", Text(255), required=True, column="name"),
        Field("parent_code", Text(50)),
        Field("is_active", Boolean(), column="is_active"),
    ),
    references=(Reference(field="parent_code", column="parent_id", to="departments"),),
)

USERS = ImportType(
    name="users",
    description="Users and the departments they belong to (codes separated by ';', "
    "the first one primary).",
    table=users,
    key="email",
    fields=(
        Field("email", Email(255), required=True, column="email"),
        Field("first_name", Text(100), required=True, column="first_name"),
        Field("last_name", Text(100), required=True, column="last_name"),
        Field("department_codes", KeyList(50), required=True),
        Field("is_active", Boolean(), column="is_active"),
    ),
    links=(
        Link(
            field="department_codes",
            table=user_departments,
            owner_column="user_id",
            target_column="department_id",
            to="departments",
            primary_flag="is_primary",
        ),
    ),
)

BUILTIN_TYPES = Catalog((DEPARTMENTS, USERS))
