"""Which sheet of a workbook is read: a named one, hidden or not, else the first visible one."""

from __future__ import annotations

import re
import zipfile

import pytest
import xlsxwriter

from batchport.errors import SourceError
from batchport.sources import Limits, WorkbookSource, open_source
from batchport.sources.workbook import Workbook, visible_sheets
from tests.helpers import zipped


def book(tmp_path, *sheets, name="book.xlsx"):
    """A workbook of (name, visibility) sheets, each holding a code column and its name as a
    row; visibility is `visible`, `hidden`, `very hidden` or `chart`."""
    path = tmp_path / name
    workbook = xlsxwriter.Workbook(str(path))
    for sheet, visibility in sheets:
        if visibility == "chart":
            chart = workbook.add_chart({"type": "line"})
            chart.add_series({"values": "=data!$A$1:$A$2"})
            workbook.add_chartsheet(sheet).set_chart(chart)
            continue
        worksheet = workbook.add_worksheet(sheet)
        worksheet.write_row(0, 0, ["code"])
        worksheet.write_row(1, 0, [sheet])
        if visibility == "hidden":
            worksheet.hide()
        elif visibility == "very hidden":
            worksheet.very_hidden()
        else:
            worksheet.activate()  # a hidden sheet cannot be the active one
    workbook.close()
    return path


def hide_every_sheet(path):
    """Marks every sheet of the workbook hidden, as no spreadsheet program (nor xlsxwriter)
    will, though a file may say so."""
    with zipfile.ZipFile(path) as archive:
        parts = {entry.filename: archive.read(entry) for entry in archive.infolist()}
    text = parts["xl/workbook.xml"].decode()
    text = re.sub(r"<sheet (?![^>]*state=)", '<sheet state="hidden" ', text)
    parts["xl/workbook.xml"] = text.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def cells(source):
    with source:
        return [row for _, row in source.rows()]


def test_without_a_name_the_first_visible_sheet_is_read(tmp_path):
    """A hidden and a very hidden sheet before the first visible one are passed over."""
    path = book(tmp_path, ("Old", "hidden"), ("Lists", "very hidden"), ("data", "visible"))
    assert cells(open_source(path)) == [["data"]]


def test_a_chart_sheet_is_passed_over_too(tmp_path):
    """A chart sheet holds no cells: the first visible worksheet after it is read."""
    path = book(tmp_path, ("Chart", "chart"), ("data", "visible"))
    assert cells(open_source(path)) == [["data"]]


@pytest.mark.parametrize("hidden", ["hidden", "very hidden"])
def test_a_hidden_sheet_named_is_read(tmp_path, hidden):
    """Naming a sheet reads it, however hidden."""
    path = book(tmp_path, ("Secret", hidden), ("data", "visible"))
    assert cells(open_source(path, sheet="Secret")) == [["Secret"]]


def test_a_workbook_with_every_sheet_hidden_is_refused_clearly(tmp_path):
    """With no visible sheet and none named, the error lists the sheets and says how to read one."""
    path = book(tmp_path, ("A", "visible"), ("B", "very hidden"))
    hide_every_sheet(path)
    assert visible_sheets(path, Limits()) == []
    with pytest.raises(SourceError) as raised:
        WorkbookSource(path)
    assert "no visible sheet (its sheets: A, B)" in str(raised.value)
    assert raised.value.hint == "name the sheet to read with --sheet"
    assert cells(WorkbookSource(path, sheet="B")) == [["B"]]


def test_a_missing_sheet_is_still_refused(tmp_path):
    """A named sheet the workbook lacks is an error naming the sheets it has."""
    path = book(tmp_path, ("A", "hidden"), ("data", "visible"))
    with pytest.raises(SourceError, match=r"no sheet 'users'; its sheets: A, data"):
        WorkbookSource(path, sheet="users")


def test_visible_sheets_lists_only_what_a_user_sees(tmp_path):
    """Hidden, very hidden and chart sheets are left out; the order is the workbook's."""
    path = book(
        tmp_path,
        ("users", "hidden"),
        ("data", "visible"),
        ("Chart", "chart"),
        ("Lists", "very hidden"),
        ("departments", "visible"),
    )
    assert visible_sheets(path, Limits()) == ["data", "departments"]


def test_visible_sheets_applies_the_limits_of_every_source(tmp_path):
    """Listing the sheets refuses a file over the size limit, as reading one would."""
    path = book(tmp_path, ("data", "visible"))
    with pytest.raises(SourceError, match="the limit is 100"):
        visible_sheets(path, Limits(max_file_bytes=100))


def test_a_workbook_checked_once_reads_each_sheet_it_names(tmp_path):
    """One check of the archive serves every sheet read from it, hidden ones included."""
    path = book(tmp_path, ("Old", "hidden"), ("data", "visible"), ("more", "visible"))
    with Workbook(path, Limits()) as checked:
        assert checked.visible_sheets() == ["data", "more"]
        assert [cells(checked.sheet(name)) for name in ("more", "Old")] == [[["more"]], [["Old"]]]


def test_a_workbook_changed_after_its_check_is_not_read(tmp_path):
    """A file put in place of the checked one (or rewritten) is refused, not read unchecked."""
    path = book(tmp_path, ("data", "visible"))
    with Workbook(path, Limits()) as checked:
        book(tmp_path, ("data", "visible"), ("other", "visible"), name="other.xlsx").replace(path)
        with pytest.raises(SourceError, match="the file changed while it was being read"):
            checked.sheet("data")


def test_a_sheet_checked_as_it_is_read_must_be_of_the_file_checked(tmp_path):
    """A sheet read alongside another has its part checked only as it is read: by then the file
    may have been replaced, and it is refused rather than checked and read as another's."""
    path = book(tmp_path, ("data", "visible"), ("more", "visible"))
    with Workbook(path, Limits()) as checked, checked.sheet("more", alongside=True) as more:
        book(tmp_path, ("data", "visible"), ("more", "visible"), name="other.xlsx").replace(path)
        with pytest.raises(SourceError, match="the file changed while it was being read"):
            more.header()


def test_a_sheet_name_the_reader_reads_otherwise_has_every_part_checked_first(tmp_path):
    """A tab in a sheet's name attribute: XML makes it a space, calamine keeps it. Which part is
    that sheet's cannot be told by name then, so every part is checked before any is read: here
    the renamed sheet's part, past the limits, refuses the workbook at once."""
    path = book(tmp_path, ("ab", "visible"), ("cd", "visible"))
    with zipfile.ZipFile(path) as archive:
        parts = {entry.filename: archive.read(entry) for entry in archive.infolist()}
    grid = b"".join(b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (n, n) for n in range(3, 40))
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(b"</sheetData>", grid + b"</sheetData>")
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b'name="ab"', b'name="a\tb"')
    zipped(path, parts)
    with pytest.raises(SourceError, match=f"the worksheet {sheet} spans 39 cells"):
        Workbook(path, Limits(max_sheet_cells=20))
    with Workbook(path, Limits()) as checked:  # within the limits, it reads as calamine names it
        assert cells(checked.sheet("a\tb"))[0] == ["ab"]
