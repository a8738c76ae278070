"""What an import-types file may say, as pydantic models: the TOML is checked against these
before anything else looks at it, so a mistake is named by its place in the file."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from batchport.vocabulary import WORKBOOK

#: A name as a file gives it: a header, a column, a table, a type.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
#: A cell's default as a file gives it: written as the cell would be (`"true"`, `"0"`), or a
#: TOML value.
Default = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkSpec(_Strict):
    """The field holds keys of another type, each stored as a row of a link table."""

    #: The import type whose keys the cell holds.
    to: Name
    #: The link table (`schema.table` or `table`).
    table: Name
    #: The link table's column that holds the importing row's id.
    owner: Name
    #: The link table's column that holds the linked row's id.
    target: Name
    #: A boolean column of the link table set true for the first key of the list.
    primary_flag: Name | None = None
    #: What separates the keys in a cell.
    separator: Annotated[str, StringConstraints(min_length=1, max_length=3)] = ";"


class FieldSpec(_Strict):
    """One column of the file."""

    #: The header, as the file's first row names it (case, spaces, `_` and `-` ignored).
    name: Name
    #: How a cell is read: text, email, boolean, integer, decimal, date, datetime, uuid, enum,
    #: json, or a parser a Python package registers (entry point group `batchport.types`).
    parser: Name = "text"
    #: The table's column the value goes into (default: the field's name). A reference's
    #: column holds the referenced row's id; a link's field has none.
    column: Name | None = None
    required: bool = False
    #: The value of an empty cell, read by the parser (else the column's own default).
    default: Default | None = None
    #: The longest text (characters) a cell may hold.
    max_length: Annotated[int, Field(gt=0)] | None = None
    #: An enum's allowed values.
    values: list[Name] | None = None
    #: A number's decimal separator in the file (`.` or `,`); the other one groups thousands.
    decimal_separator: Annotated[str, StringConstraints(pattern=r"^[.,]$")] = "."
    #: A date's or datetime's formats besides ISO 8601 (`strptime` codes, tried in order, like
    #: `["%d/%m/%Y"]`): a day/month order is read only when the file's is declared.
    formats: list[Annotated[str, StringConstraints(min_length=1)]] | None = None
    #: The cell holds the key of a row of this import type (its own name: a hierarchy).
    references: Name | None = None
    #: The cell holds keys of another type, each a row of a link table.
    link: LinkSpec | None = None

    @model_validator(mode="after")
    def _one_role(self) -> FieldSpec:
        if self.references and self.link:
            raise ValueError("a field either references a type or links to one, not both")
        if self.link and self.column:
            raise ValueError("a link's field has no column: its keys become rows of the link")
        if self.references and not self.column:
            raise ValueError("a reference needs the column that holds the referenced row's id")
        return self


class TypeSpec(_Strict):
    """One import type."""

    #: The table rows are imported into: `schema.table`, or `table` in the default schema.
    table: Name
    #: The field that identifies a row (its column needs a unique constraint).
    key: Name
    fields: Annotated[list[FieldSpec], Field(min_length=1)]
    description: str = ""

    @model_validator(mode="after")
    def _known_key(self) -> TypeSpec:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(
                f"a field is named twice: {sorted(n for n in names if names.count(n) > 1)[0]!r}"
            )
        if self.key not in names:
            raise ValueError(f"the key {self.key!r} is not one of the fields")
        return self


#: The longest type name: the history keeps it in a VARCHAR(50).
LONGEST_TYPE_NAME = 50


class TypesFile(_Strict):
    """A whole file: `[types.NAME]` tables."""

    types: Annotated[dict[Name, TypeSpec], Field(min_length=1)]

    @field_validator("types")
    @classmethod
    def _usable_names(cls, types: dict[str, TypeSpec]) -> dict[str, TypeSpec]:
        for name in types:
            if name.lower() == WORKBOOK:
                raise ValueError(f"{name!r} names every sheet of a workbook: call the type else")
            if len(name) > LONGEST_TYPE_NAME:
                raise ValueError(
                    f"the type name {name[:20]!r}… is {len(name)} characters long; "
                    f"at most {LONGEST_TYPE_NAME} allowed"
                )
        return types
