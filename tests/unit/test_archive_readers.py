"""A large sheet's part is checked by several processes at once, each adding up every n-th
piece: the workbook is refused, or passes, exactly as when one process reads it all."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from batchport.errors import SourceError
from batchport.sources import archive
from batchport.sources.base import Limits
from tests.helpers import SHEET, STRINGS, plain_parts, zipped

#: Rows of the sheet: about 3 MB of XML, three pieces or so.
ROWS = 30_000


def sheet_of(path: Path, odd_row: int = 0, odd: bytes = b"", text: bytes = b"C") -> Path:
    """A workbook whose sheet has `ROWS` rows below its header (an inline text `text` + the row
    number, then the shared string Alpha), `odd` added to the cells of row `odd_row`."""
    parts = plain_parts()
    rows = b"".join(
        b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>%s%d</t></is></c>'
        b'<c r="B%d" t="s"><v>3</v></c>%s</row>'
        % (row, row, text, row, row, odd if row == odd_row else b"")
        for row in range(3, ROWS + 3)
    )
    parts[SHEET] = parts[SHEET].replace(b"</sheetData>", rows + b"</sheetData>")
    return zipped(path, parts)


def refusal(path: Path, limits: Limits, readers: int, monkeypatch) -> str:
    """What the check says of the workbook with its sheet read by `readers` processes."""
    monkeypatch.setattr(archive, "_readers", lambda _entry: readers)
    with pytest.raises(SourceError) as refused:
        archive.check_archive(path, "book.xlsx", limits)
    return refused.value.message


def test_a_sheet_read_in_three_shares_is_the_sheet_read_whole(tmp_path, monkeypatch):
    """The cells of every share are counted, and the grid spans from the first share's first
    cell to a far cell in a middle share and the last share's last row."""
    path = sheet_of(tmp_path / "book.xlsx", 20_000, b'<c r="H20000"><v>1</v></c>')  # piece 1 or 2
    limits = Limits(max_workbook_memory=20 << 20)
    alone = refusal(path, limits, 1, monkeypatch)
    assert refusal(path, limits, 3, monkeypatch) == alone
    cells, rows = 2 * (ROWS + 2) + 1, ROWS + 2  # the header's and the first row's, the far one
    assert alone.endswith(
        f"(xl/worksheets/sheet1.xml holds {cells:,} cells in a grid of {rows * 8:,})"
    )


@pytest.mark.parametrize(
    ("share", "text", "shown"),
    [
        ("long texts", b"t" * 400, r"\d{1,3}(,\d{3})* bytes of long texts"),
        ("copies", b"C", r"cells copying \d{1,3}(,\d{3})* bytes of shared strings"),
    ],
)
def test_texts_and_copies_of_every_share_are_counted(tmp_path, monkeypatch, share, text, shown):
    path = sheet_of(tmp_path / "book.xlsx", text=text)
    if share == "copies":  # Alpha, in every row, made 2 KiB long
        with zipfile.ZipFile(path) as read:
            parts = {entry.filename: read.read(entry) for entry in read.infolist()}
        parts[STRINGS] = parts[STRINGS].replace(b"<t>Alpha</t>", b"<t>" + b"x" * 2048 + b"</t>")
        zipped(path, parts)
    limits = Limits(max_workbook_memory=40 << 20)
    alone = refusal(path, limits, 1, monkeypatch)
    assert re.search(shown, alone), alone
    assert refusal(path, limits, 3, monkeypatch) == alone


@pytest.mark.parametrize("row", [100, 12_000, 24_000])  # pieces 0, 1, 2: each reader
def test_a_cell_out_of_the_common_form_in_any_share_is_read_robustly(tmp_path, monkeypatch, row):
    """A reference spaced out (`r = "Z99999"`) in any piece: the part is read again robustly,
    which places that cell far down and refuses the grid it spans."""
    path = sheet_of(tmp_path / "book.xlsx", row, b'<c r = "Z99999"><v>1</v></c>')
    limits = Limits(max_sheet_cells=1_000_000)
    expected = "sheet1.xml spans 2,599,974 cells, the limit is 1,000,000 (its cells lie far apart)"
    assert refusal(path, limits, 1, monkeypatch).endswith(expected)
    assert refusal(path, limits, 3, monkeypatch).endswith(expected)


def test_a_reader_finding_another_file_in_the_place_of_the_one_opened_refuses_it(tmp_path):
    """Each reader opens the file anew (two processes cannot share one offset): a file put in
    its place since is not read unchecked."""
    path = sheet_of(tmp_path / "book.xlsx")
    other = sheet_of(tmp_path / "other.xlsx")
    with zipfile.ZipFile(path) as opened:
        other.replace(path)
        entry = opened.getinfo(SHEET)
        share = archive._share(opened, entry, "book.xlsx", [], (1, 2))
        with pytest.raises(SourceError, match="the file changed while it was being read"):
            next(share)


def test_a_sheet_within_the_limits_read_in_shares_passes(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "_readers", lambda _entry: 3)
    archive.check_archive(sheet_of(tmp_path / "book.xlsx"), "book.xlsx", Limits())
