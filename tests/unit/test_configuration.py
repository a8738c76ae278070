"""Import types declared in a TOML file: the shipped file is the built-in types, and every
mistake in a file is named by its place (file, type, field) with what is wrong."""

from __future__ import annotations

import pytest

from batchport import BUILTIN_TYPES
from batchport.configuration import find, shipped_text
from batchport.configuration.build import own_tables
from batchport.configuration.describe import described
from batchport.configuration.load import TypesSource, parse
from batchport.errors import ConfigurationError


def test_the_shipped_file_declares_departments_and_users_over_batchports_tables():
    source = find()
    assert source.shipped
    catalog = source.catalog()
    assert list(catalog) == ["departments", "users"]
    departments, users = catalog["departments"], catalog["users"]
    assert departments.table is own_tables("inventory.departments")
    assert departments.key == "code" and users.key == "email"
    assert [(r.field, r.column, r.to) for r in departments.references] == [
        ("parent_code", "parent_id", "departments")
    ]
    [link] = users.links
    assert (link.table.name, link.owner_column, link.target_column, link.to) == (
        "user_departments",
        "user_id",
        "department_id",
        "departments",
    )
    assert [(f.name, f.required, f.column) for f in users.fields] == [
        (f.name, f.required, f.column) for f in BUILTIN_TYPES["users"].fields
    ]


def test_a_local_batchport_toml_is_found_and_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "batchport.toml").write_text(shipped_text())
    assert find().name == "batchport.toml"
    other = tmp_path / "other.toml"
    other.write_text(shipped_text())
    monkeypatch.setenv("BATCHPORT_CONFIG", str(other))
    assert find().name == str(other)
    assert find(tmp_path / "batchport.toml").name == str(tmp_path / "batchport.toml")


USERS = "[types.users]\n"


def another(name: str) -> str:
    """A type called `name` over the users' table, declared before the users."""
    fields = '[{ name = "email" }]'
    return f'[types.{name}]\ntable = "users"\nkey = "email"\nfields = {fields}\n\n{USERS}'


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[types.users]", "[types.users]\ncolour = 'red'"), "types.users.colour: Extra inputs"),
        (('key = "email"', 'key = "mail"'), "the key 'mail' is not one of the fields"),
        (('parser = "email"', 'parser = "emial"'), "no parser named 'emial'"),
        (('column = "parent_id"', 'column = "parent"'), "has no column 'parent'"),
        (("max_length = 50\nrequired = true", "max_length = 0"), "greater than 0"),
        (('table = "users"', 'table = "people"'), "no table 'people'"),
        (('to = "departments"', 'to = "teams"'), "refers to unknown type 'teams'"),
        (("[types.departments]", "[types.departments"), "not valid TOML"),
        ((USERS, another("Workbook")), "'Workbook' names every sheet of a workbook"),
        ((USERS, another("d" * 51)), "is 51 characters long; at most 50 allowed"),
    ],
)
def test_a_mistake_is_named_by_its_place(change, message):
    old, new = change
    text = shipped_text().replace(old, new, 1)
    assert text != shipped_text()
    with pytest.raises(ConfigurationError) as raised:
        TypesSource("mine.toml", parse(text, "mine.toml")).catalog()
    assert str(raised.value).startswith("mine.toml: ")
    assert message in str(raised.value)


def test_a_type_is_described_by_its_parsers_names_and_rules(tmp_path, monkeypatch):
    """What `batchport types show` prints: the parser a types file names, and the rules."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BATCHPORT_CONFIG", raising=False)
    users = described(find().catalog()["users"])
    columns = {c["name"]: (c["parser"], c["rules"]) for c in users["columns"]}
    assert columns == {
        "email": ("email", "at most 255 characters"),
        "first_name": ("text", "at most 100 characters"),
        "last_name": ("text", "at most 100 characters"),
        "department_codes": ("link", "keys separated by ';'"),
        "is_active": ("boolean", ""),
    }
