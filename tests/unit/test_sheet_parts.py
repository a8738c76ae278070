"""Which part of the archive calamine reads for each sheet, told only where the workbook says
it plainly: any other layout gets no answer (and every part is checked before any sheet)."""

from __future__ import annotations

import io
import zipfile

import pytest
import python_calamine
import xlsxwriter

from batchport.sources.sheet_parts import sheet_parts
from tests.helpers import zipped

WORKBOOK_RELS = "xl/_rels/workbook.xml.rels"


def two_sheets() -> dict[str, bytes]:
    """A real workbook's parts: sheets `first` (holding 111) and `second` (holding 222)."""
    data = io.BytesIO()
    book = xlsxwriter.Workbook(data, {"in_memory": True})
    book.add_worksheet("first").write_number(0, 0, 111)
    book.add_worksheet("second").write_number(0, 0, 222)
    book.close()
    with zipfile.ZipFile(data) as archive:
        return {entry.filename: archive.read(entry) for entry in archive.infolist()}


def answer(tmp_path, parts: dict[str, bytes]) -> dict[str, str]:
    with zipfile.ZipFile(zipped(tmp_path / "book.xlsx", parts)) as archive:
        return {sheet: entry.filename for sheet, entry in sheet_parts(archive).items()}


def replaced(parts: dict[str, bytes], name: str, old: bytes, new: bytes) -> dict[str, bytes]:
    assert old in parts[name]
    return {**parts, name: parts[name].replace(old, new)}


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_each_sheet_is_told_the_part_calamine_reads_for_it(tmp_path, absolute):
    """The part named for each sheet is the one calamine reads its cells from, whether the
    workbook's relationships name it from `xl/` or from the archive's root."""
    parts = two_sheets()
    if absolute:
        parts = replaced(parts, WORKBOOK_RELS, b'Target="worksheets/', b'Target="/xl/worksheets/')
    told = answer(tmp_path, parts)
    assert told == {"first": "xl/worksheets/sheet1.xml", "second": "xl/worksheets/sheet2.xml"}
    calamine = python_calamine.CalamineWorkbook.from_path(str(tmp_path / "book.xlsx"))
    for sheet, part in told.items():
        (value,) = calamine.get_sheet_by_name(sheet).to_python()[0]
        assert f"<v>{int(value)}</v>".encode() in parts[part]


def unplain(parts: dict[str, bytes], how: str) -> dict[str, bytes]:
    """The workbook's parts changed `how`: each a layout this module does not vouch for."""
    sheet2 = parts["xl/worksheets/sheet2.xml"]
    changes = {
        "workbook elsewhere": lambda: {
            **replaced(parts, "_rels/.rels", b'Target="xl/workbook.xml"', b'Target="xl/b.xml"'),
            "xl/b.xml": parts["xl/workbook.xml"],
        },
        "target in another case": lambda: replaced(
            parts, WORKBOOK_RELS, b"worksheets/sheet2.xml", b"Worksheets/Sheet2.xml"
        ),
        "two entries one name": lambda: {**parts, "XL/worksheets/sheet2.xml": sheet2},
        # Python lowers the Kelvin sign to a k; calamine (ASCII only) does not find it so.
        "a name lowered by Python alone": lambda: {
            **replaced(parts, WORKBOOK_RELS, b"worksheets/sheet2.xml", b"worksheets/keep.xml"),
            "xl/worksheets/\u212aeep.xml": sheet2,
        },
        "two sheets one part": lambda: replaced(
            parts, WORKBOOK_RELS, b"worksheets/sheet2.xml", b"worksheets/sheet1.xml"
        ),
        "escaped target": lambda: replaced(
            parts, WORKBOOK_RELS, b"worksheets/sheet2.xml", b"worksheets/&#115;heet2.xml"
        ),
        "an id twice": lambda: replaced(parts, WORKBOOK_RELS, b'Id="rId2"', b'Id="rId1"'),
        "a name twice": lambda: replaced(parts, "xl/workbook.xml", b'"second"', b'"first"'),
        "no part": lambda: {k: v for k, v in parts.items() if k != "xl/worksheets/sheet2.xml"},
        "no XML": lambda: {**parts, "xl/workbook.xml": b"<workbook"},
        "not a worksheet": lambda: replaced(
            parts, WORKBOOK_RELS, b"relationships/worksheet", b"relationships/chartsheet"
        ),
        # calamine reads an `xmlns:id` as the sheet's id (the last one wins); XML, as none.
        "an id as a namespace": lambda: replaced(
            parts, "xl/workbook.xml", b'r:id="rId1"', b'r:id="rId1" xmlns:id="rId2"'
        ),
        # calamine reads every relationship, however deep (the last of an id wins).
        "a relationship within one": lambda: replaced(
            parts,
            WORKBOOK_RELS,
            b'Target="worksheets/sheet1.xml"/>',
            b'Target="worksheets/sheet1.xml"><Relationship Id="rId1" Type="http://schemas.'
            b'openxmlformats.org/officeDocument/2006/relationships/worksheet" '
            b'Target="worksheets/sheet2.xml"/></Relationship>',
        ),
        # calamine takes the last officeDocument relationship, strict OOXML's type as well.
        "a strict workbook too": lambda: replaced(
            parts,
            "_rels/.rels",
            b"</Relationships>",
            b'<Relationship Id="rId9" Type="http://purl.oclc.org/ooxml/officeDocument/'
            b'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        ),
    }
    return changes[how]()


@pytest.mark.parametrize(
    "how",
    [
        "workbook elsewhere",
        "target in another case",
        "two entries one name",
        "a name lowered by Python alone",
        "two sheets one part",
        "escaped target",
        "an id twice",
        "a name twice",
        "no part",
        "no XML",
        "not a worksheet",
        "an id as a namespace",
        "a relationship within one",
        "a strict workbook too",
    ],
)
def test_a_workbook_laid_out_otherwise_gets_no_answer(tmp_path, how):
    """Where calamine might read another part for a sheet than the plain layout says (it finds
    entries in any case, follows whatever the relationships name), nothing is told."""
    assert answer(tmp_path, two_sheets())  # the same workbook, laid out plainly
    assert answer(tmp_path, unplain(two_sheets(), how)) == {}
