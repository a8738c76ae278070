"""Readers stream rows numbered as a spreadsheet numbers them."""

from __future__ import annotations

import datetime as dt

import pytest
import xlsxwriter

from batchport.errors import SourceError
from batchport.sources import open_source


def test_csv_rows_are_numbered_like_a_spreadsheet(tmp_path):
    """The header is row 1; blank lines are skipped but still counted."""
    path = tmp_path / "f.csv"
    path.write_text("a,b\n1,2\n\n3,4\n,\n5,6")
    with open_source(path) as source:
        assert source.header() == ["a", "b"]
        assert list(source.rows()) == [(2, ["1", "2"]), (4, ["3", "4"]), (6, ["5", "6"])]


def test_csv_quoted_fields_keep_commas_quotes_and_newlines(tmp_path):
    """Quoted cells round-trip exactly; a cell with a newline is one row."""
    path = tmp_path / "f.csv"
    path.write_bytes(b'a,b\r\n"x, y","say ""hi""\nthere"\r\nz,w\r\n')
    with open_source(path) as source:
        assert list(source.rows()) == [(2, ["x, y", 'say "hi"\nthere']), (3, ["z", "w"])]


@pytest.mark.parametrize("content", [b"", b"\n\n", b",,\n", b"  \r\n\t\n"])
def test_empty_csv_is_a_source_error(tmp_path, content):
    """A file with nothing but blank lines, whitespace or delimiters says it is empty."""
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with open_source(path) as source, pytest.raises(SourceError, match="empty"):
        source.header()


def test_unterminated_quote_names_the_line(tmp_path):
    """Strict mode: a quote never closed is an error naming the line it opens on, not a
    silent repair."""
    path = tmp_path / "f.csv"
    path.write_text('a,b\n1,"open\n')
    with (
        open_source(path) as source,
        pytest.raises(SourceError, match="a quoted cell opened at line 2 is never closed"),
    ):
        list(source.rows())


def test_unknown_encoding_is_a_source_error(tmp_path):
    """--encoding with a name Python does not know is reported as such."""
    path = tmp_path / "f.csv"
    path.write_text("a\n1\n")
    with pytest.raises(SourceError, match="unknown encoding 'klingon'"):
        open_source(path, encoding="klingon")


def test_xlsx_cells_become_the_text_a_user_typed(tmp_path):
    """Whole numbers lose their .0, booleans are true/false, dates are ISO 8601."""
    path = tmp_path / "f.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("S")
    dates = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["n", "f", "b", "d", "s"])
    sheet.write_row(1, 0, [42, 2.5, True])
    sheet.write_datetime(1, 3, dt.datetime(2025, 12, 13), dates)
    sheet.write_string(1, 4, "007")
    workbook.close()
    with open_source(path) as source:
        assert list(source.rows()) == [(2, ["42", "2.5", "true", "2025-12-13", "007"])]


def test_xlsx_row_numbers_start_where_the_sheet_does(tmp_path):
    """A sheet whose table starts lower down keeps the spreadsheet's row numbers."""
    path = tmp_path / "f.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["code", "name"])
    sheet.write_row(3, 0, ["A", "a"])
    workbook.close()
    with open_source(path) as source:
        assert list(source.rows()) == [(4, ["A", "a"])]


def test_not_a_workbook_is_a_source_error(tmp_path):
    """A text file named .xlsx is reported as unreadable, not a crash."""
    path = tmp_path / "fake.xlsx"
    path.write_text("code,name\n")
    with pytest.raises(SourceError, match="not a readable workbook"):
        open_source(path)
