"""Nasty files, each with its expected outcome: imported with exactly the values it holds, or
rejected with a clear error naming the problem — never a crash, a hang or a half-written batch.

Every file is made here by the test, so each case shows the bytes it is about.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import xlsxwriter
from msoffcrypto.format.ooxml import OOXMLFile

from batchport import BatchportError, FileRejected, Limits, run_import

HEADER = "code,name"
#: A file must be imported or refused within this many seconds.
PATIENCE = 10


@dataclass(frozen=True)
class Case:
    """A file and what must come of it: these (code, name, parent code) rows, or an error
    whose text matches `refused`."""

    name: str
    make: Callable[[Path], Path]
    rows: list[tuple[str, str, str | None]] | None = None
    refused: str | None = None
    options: dict[str, object] = field(default_factory=dict)


def csv_bytes(data: bytes, suffix: str = ".csv") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / f"nasty{suffix}"
        path.write_bytes(data)
        return path

    return make


def csv_text(text: str, encoding: str = "utf-8") -> Callable[[Path], Path]:
    return csv_bytes(text.encode(encoding))


def workbook(build: Callable[[xlsxwriter.Workbook], None]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "nasty.xlsx"
        book = xlsxwriter.Workbook(str(path))
        build(book)
        book.close()
        return path

    return make


def zip_of(entries: dict[str, bytes]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "nasty.xlsx"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in entries.items():
                archive.writestr(name, data)
        return path

    return make


SHEET = "xl/worksheets/sheet1.xml"
#: A cell far below the others, in inline text (no shared string).
FAR = b'<row r="2000"><c r="B2000" t="inlineStr"><is><t>far</t></is></c></row></sheetData>'


def departments(book: xlsxwriter.Workbook) -> None:
    sheet = book.add_worksheet("departments")
    sheet.write_row(0, 0, ["code", "name"])
    sheet.write_row(1, 0, ["A", "Alpha"])


def edited(*edits: Callable[[dict[str, bytes]], None]) -> Callable[[Path], Path]:
    """A real workbook (sheet departments: code, name; A, Alpha) with its parts edited."""

    def make(folder: Path) -> Path:
        plain = workbook(departments)(folder)
        with zipfile.ZipFile(plain) as archive:
            parts = {entry.filename: archive.read(entry) for entry in archive.infolist()}
        for edit in edits:
            edit(parts)
        return zip_of(parts)(folder)

    return make


def replaced(part: str, old: bytes, new: bytes) -> Callable[[dict[str, bytes]], None]:
    def edit(parts: dict[str, bytes]) -> None:
        assert old in parts[part], old
        parts[part] = parts[part].replace(old, new, 1)

    return edit


def renamed(part: str, name: str) -> Callable[[dict[str, bytes]], None]:
    """Moves a sheet to a name no reader would guess; the workbook's relationships follow."""

    def edit(parts: dict[str, bytes]) -> None:
        parts[name] = parts.pop(part)
        rels = "xl/_rels/workbook.xml.rels"
        parts[rels] = parts[rels].replace(part[3:].encode(), name[3:].encode())

    return edit


def encrypted(folder: Path) -> Path:
    """A real password-protected workbook, encrypted as Excel does (ECMA-376 agile)."""
    plain = workbook(lambda b: b.add_worksheet("departments").write_row(0, 0, ["code"]))(folder)
    path = folder / "secret.xlsx"
    with plain.open("rb") as source, path.open("wb") as target:
        OOXMLFile(source).encrypt("s3cret", target)
    return path


def formulas_merged_dates(book: xlsxwriter.Workbook) -> None:
    sheet = book.add_worksheet("departments")
    sheet.write_row(0, 0, ["code", "name", "parent_code"])
    sheet.write_string(1, 0, "007")  # a number stored as text keeps its zeros
    sheet.write_formula(1, 1, '="Fin"&"ance"', None, "Finance")  # the cached value is read
    sheet.merge_range(2, 1, 2, 2, "Merged name")  # the value sits in the first cell only
    sheet.write_string(2, 0, "M1")
    sheet.write_datetime(3, 1, dt.datetime(2025, 12, 13), book.add_format({"num_format": "d/m/yy"}))
    sheet.write_string(3, 0, "D1")


CASES = [
    # --- read exactly --------------------------------------------------------------------
    Case("utf-8 with BOM", csv_text(f"{HEADER}\nA,Åse\n", "utf-8-sig"), [("A", "Åse", None)]),
    Case(
        "utf-8 without BOM", csv_text(f"{HEADER}\nA,Ærøskøbing ✓\n"), [("A", "Ærøskøbing ✓", None)]
    ),
    Case(
        "utf-16 LE with BOM",
        csv_text(f"{HEADER}\r\nA,Zürich\r\n", "utf-16"),
        [("A", "Zürich", None)],
    ),
    Case(
        "utf-16 BE with BOM",
        csv_bytes(codecs.BOM_UTF16_BE + f"{HEADER}\nA,Zürich\n".encode("utf-16-be")),
        [("A", "Zürich", None)],
    ),
    Case(
        "cp1252, detected",
        csv_text(f"{HEADER}\nA,Café – 5 €\n", "cp1252"),  # noqa: RUF001 - an en dash, on purpose
        [("A", "Café – 5 €", None)],  # noqa: RUF001
    ),
    Case(
        "latin-1, named",
        csv_text(f"{HEADER}\nA,Zürich\n", "latin-1"),
        [("A", "Zürich", None)],
        options={"encoding": "latin-1"},
    ),
    Case(
        "semicolons, detected",
        csv_text("code;name;parent_code\nA;Alpha, Inc.;\n"),
        [("A", "Alpha, Inc.", None)],
    ),
    Case(
        "tabs, detected",
        csv_text("code\tname\tparent_code\nA\tAlpha; Beta\t\n"),
        [("A", "Alpha; Beta", None)],
    ),
    Case(
        "pipes, named",
        csv_text("code|name\nA|Alpha\n"),
        [("A", "Alpha", None)],
        options={"delimiter": "|"},
    ),
    Case(
        "CRLF line ends",
        csv_bytes(b"code,name,parent_code\r\nA,Alpha,\r\nB,Beta,A\r\n"),
        [("A", "Alpha", None), ("B", "Beta", "A")],
    ),
    Case(
        "quotes, commas, newlines",
        csv_bytes(b'code,name\r\nA,"Smith, ""Jr."" \r\nand sons"\nB,"two\nlines"\n'),
        [("A", 'Smith, "Jr." \r\nand sons', None), ("B", "two\nlines", None)],
    ),
    Case("blank trailing lines", csv_text("code,name\nA,Alpha\n\n\n,\n"), [("A", "Alpha", None)]),
    Case("no final newline", csv_text("code,name\nA,Alpha"), [("A", "Alpha", None)]),
    Case("formula-looking text", csv_text('code,name\nA,"=1+2"\n'), [("A", "=1+2", None)]),
    Case(
        "xlsx: formulas, merged cells, text numbers, dates",
        workbook(formulas_merged_dates),
        [("007", "Finance", None), ("M1", "Merged name", None), ("D1", "2025-12-13", None)],
        options={"sheet": "departments"},
    ),
    # --- refused clearly -----------------------------------------------------------------
    Case("unterminated quote", csv_text('code,name\nA,"open\nB,b\n'), refused="never closed"),
    Case(
        "too many cells", csv_text("code,name\nA,a,extra\n"), refused="beyond the last named column"
    ),
    Case("too few cells", csv_text("code,name,parent_code\nA\n"), refused="row has 1 cells"),
    Case("NUL byte", csv_bytes(b"code,name\nA,a\x00b\n"), refused="binary file|NUL"),
    Case(
        "over-long cell",
        csv_text("code,name\nA," + "x" * 2000 + "\n"),
        refused="longer than 1,000 characters",
        options={"limits": Limits(max_cell_chars=1000)},
    ),
    Case("repeated header", csv_text("code,name,Name\nA,a,b\n"), refused="appears twice"),
    Case("empty header with values", csv_text("code,name,\nA,a,surprise\n"), refused="no name"),
    Case("header only", csv_text("code,name\n"), refused="no data rows"),
    Case("empty file", csv_bytes(b""), refused="empty"),
    Case("PNG named .csv", csv_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100)), refused="PNG image"),
    Case("zip named .csv", csv_bytes(b"PK\x03\x04" + bytes(100)), refused="zip archive"),
    Case("random binary", csv_bytes(bytes(range(256)) * 8), refused="binary file"),
    Case(
        "wrong encoding named",
        csv_text(f"{HEADER}\nA,Zürich\n", "cp1252"),
        refused="not valid utf-8.*--encoding",
        options={"encoding": "utf-8"},
    ),
    Case(
        "file over the size limit",
        csv_text("code,name\n" + "A,a\n" * 1000),
        refused="the limit is 1,000",
        options={"limits": Limits(max_file_bytes=1000)},
    ),
    Case(
        "rows over the limit",
        csv_text("code,name\n" + "".join(f"C{i},c\n" for i in range(50))),
        refused="more than 10 data rows",
        options={"limits": Limits(max_rows=10)},
    ),
    Case(
        "text named .xlsx",
        csv_bytes(b"code,name\nA,a\n", ".xlsx"),
        refused="not a readable workbook",
    ),
    Case(
        "encrypted-looking .xlsx",
        csv_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), ".xlsx"),
        refused="not a readable workbook",
    ),
    Case("password-protected workbook", encrypted, refused="password-protected"),
    Case(
        "zip bomb",
        zip_of({"xl/worksheets/sheet1.xml": bytes(50 << 20)}),
        refused="unpacks to 52,428,800 bytes",
        options={"limits": Limits(max_unpacked_bytes=10 << 20)},
    ),
    Case(
        "too many zip entries",
        zip_of({f"x/{i}.bin": b"" for i in range(200)}),
        refused="200 entries",
        options={"limits": Limits(max_zip_entries=100)},
    ),
    Case(
        "cells far apart (a grid bomb)",
        workbook(
            lambda b: (
                b.add_worksheet("departments").write_row(0, 0, ["code", "name"]),
                b.worksheets()[0].write_string(1048575, 16383, "far"),
            )
        ),
        refused="spans 17,179,869,184 cells",
        options={"sheet": "departments"},
    ),
    Case(
        "a DTD after a 5,000-byte comment",
        edited(
            replaced(SHEET, b"?>", b"?><!--" + b"c" * 5000 + b'--><!DOCTYPE x [<!ENTITY a "b">]>')
        ),
        refused="part xl/worksheets/sheet1.xml declares a DTD or XML entities",
    ),
    Case(
        "a prologue running on past 64 KiB",
        edited(replaced(SHEET, b"?>", b"?><!--" + b"c" * 70_000 + b"-->")),
        refused="sheet1.xml has more than 65,536 bytes before its root element",
    ),
    Case(
        "a sheet's part unpacking past the memory limit (whitespace)",
        edited(replaced(SHEET, b"<sheetData>", b"<sheetData>" + b" " * (3 << 20))),
        refused=r"sheet1.xml unpacks to 3,1\d\d,\d{3} bytes, more than the limit of 2,097,152",
        options={"limits": Limits(max_workbook_memory=2 << 20)},
    ),
    Case(
        "an XML text longer than 8 MiB",
        edited(replaced(SHEET, b"<sheetData>", b"<sheetData>" + b" " * (9 << 20))),
        refused="holds an XML tag or text longer than 8,388,608 bytes",
    ),
    Case(
        "a long shared string copied into many cells",
        edited(
            replaced(
                "xl/sharedStrings.xml", b"<t>Alpha</t>", b"<t>" + b"x" * (256 << 10) + b"</t>"
            ),
            replaced(
                SHEET,
                b"</sheetData>",
                b"".join(
                    b'<row r="%d"><c r="B%d" t="s"><v>3</v></c></row>' % (r, r)
                    for r in range(3, 43)
                )
                + b"</sheetData>",
            ),
        ),
        refused=r"sheet1.xml holds cells copying 10,7\d\d,\d{3} bytes of shared strings",
        options={"limits": Limits(max_workbook_memory=16 << 20)},
    ),
    *(
        Case(
            f"cells far apart, {how}",
            edited(replaced(SHEET, b"</sheetData>", far), *edits),
            refused=f"the worksheet {part} spans 4,000 cells, the limit is 1,000",
            options={"limits": Limits(max_sheet_cells=1000)},
        )
        for how, part, far, edits in [
            (
                "in a part not named as a sheet",
                "xl/worksheets/sheet1.bin",
                FAR,
                [renamed(SHEET, "xl/worksheets/sheet1.bin")],
            ),
            ("the reference single-quoted", SHEET, FAR.replace(b'"B2000"', b"'B2000'"), []),
            ("the reference spaced out", SHEET, FAR.replace(b'r="B2000"', b'r = "B2000"'), []),
            ("only the row numbered", SHEET, FAR.replace(b' r="B2000"', b""), []),
        ]
    ),
    Case(
        "missing sheet",
        workbook(lambda b: b.add_worksheet("Other").write_row(0, 0, ["code", "name"])),
        refused="no sheet 'departments'",
        options={"sheet": "departments"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_nasty_file(db, rows, tmp_path, case):
    """Imported exactly, or refused with the expected clear error and nothing written."""
    path = case.make(tmp_path)
    started = time.monotonic()
    try:
        run_import(db, "departments", path, actor="nasty", **case.options)
    except FileRejected as exc:
        outcome: BaseException | None = exc
        text = str(exc) + " " + " ".join(f"{e.column} {e.message}" for e in exc.errors)
    except BatchportError as exc:  # with the hint the CLI prints after it
        outcome, text = exc, f"{exc} ({getattr(exc, 'hint', None)})"
    else:
        outcome, text = None, ""
    assert time.monotonic() - started < PATIENCE
    if case.refused is None:
        assert outcome is None, text
        got = [(d["code"], d["name"], d["parent_id"]) for d in rows("departments")]
        ids = {d["id"]: d["code"] for d in rows("departments")}
        assert [(c, n, ids.get(p)) for c, n, p in got] == case.rows
    else:
        assert outcome is not None, f"{case.name} was imported"
        assert re.search(case.refused or "", text), text
        assert "Traceback" not in text
        assert rows("departments") == []
