"""Workbooks that weigh little and unpack or expand to far more: refused before calamine reads
them, with the reader's memory measured in a process of its own (issue 12: the server's RSS
grows by less than 300 MB for any upload within the limits)."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

from tests.helpers import STRINGS, copies_bomb, whitespace_bomb

#: Megabytes a reader's peak RSS may grow by, for any workbook within the default limits.
BOUND_MB = 300
#: Reads a file as the importer does (blocks of 10,000 rows, default limits) and prints what
#: came of it and by how many MB the process's peak RSS grew meanwhile.
READER = """
import json, resource, sys
from pathlib import Path
from batchport.errors import SourceError
from batchport.sources import open_source

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    with open_source(Path(sys.argv[1])) as source:
        outcome = f"{sum(len(block.numbers) for block in source.blocks(10_000))} rows"
except SourceError as exc:
    outcome = exc.message
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"outcome": outcome, "grown_mb": grown / 1024}))
"""


def read_apart(path: Path) -> tuple[str, float]:
    """Reads the workbook in a fresh process: what came of it, and its peak RSS growth in MB."""
    done = subprocess.run(
        [sys.executable, "-c", READER, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(done.stdout)
    return report["outcome"], report["grown_mb"]


def test_a_sheet_of_whitespace_is_refused_unread(tmp_path):
    """400 MiB of spaces in a sheet (well under the 2 GiB unpacked limit) are refused by name
    and limit before calamine reads them, and the reader barely grows."""
    path = whitespace_bomb(tmp_path / "bomb.xlsx", 400)
    assert path.stat().st_size < 1 << 20
    outcome, grown = read_apart(path)
    assert re.fullmatch(
        r"the workbook part xl/worksheets/sheet1\.xml unpacks to 419,43\d,\d{3} bytes, more "
        r"than the limit of 209,715,200 bytes of memory for reading a workbook",
        outcome,
    ), outcome
    assert grown < BOUND_MB


def test_a_shared_string_copied_into_many_cells_is_refused_uncopied(tmp_path):
    """One shared string of 1 MiB that 300 cells refer to (calamine would copy it into each)
    is refused before the copies are made, and the reader barely grows."""
    path = copies_bomb(tmp_path / "copies.xlsx", 300)
    assert path.stat().st_size < 1 << 20
    outcome, grown = read_apart(path)
    assert re.fullmatch(
        r"reading the workbook would take more memory than the limit of 209,715,200 bytes "
        r"\(xl/worksheets/sheet1\.xml holds cells copying 314,\d{3},\d{3} bytes of shared "
        r"strings\)",
        outcome,
    ), outcome
    assert grown < BOUND_MB


def test_a_workbook_just_within_the_limit_is_read_within_the_bound(tmp_path):
    """90 copies of a 1 MiB shared string stay (just) within the memory limit: the workbook is
    read, and the reader grows by less than the bound."""
    outcome, grown = read_apart(copies_bomb(tmp_path / "copies.xlsx", 90))
    assert outcome == "90 rows"
    assert grown < BOUND_MB


def renamed(path: Path, part: str, header_name: str) -> Path:
    """The workbook with `part` stored under `header_name`, an Info-ZIP Unicode Path field
    (0x7075: version, the header name's CRC-32, the name) giving its name back as `part`."""
    with zipfile.ZipFile(path) as archive:
        parts = {entry.filename: archive.read(entry) for entry in archive.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            entry = zipfile.ZipInfo(header_name if name == part else name)
            entry.compress_type = zipfile.ZIP_DEFLATED
            if name == part:
                field = (
                    b"\x01" + struct.pack("<I", zlib.crc32(header_name.encode())) + name.encode()
                )
                entry.extra = struct.pack("<HH", 0x7075, len(field)) + field
            archive.writestr(entry, data)
    return path


def test_a_part_that_renames_itself_is_refused_unread(tmp_path):
    """The copies bomb's shared strings stored as `xl/strings.xml`, named back to the table
    by a Unicode Path field, which calamine's zip reader follows and Python's does not: the
    check would see no table, calamine would copy the string 300 times. Refused, unread."""
    path = renamed(copies_bomb(tmp_path / "copies.xlsx", 300), STRINGS, "xl/strings.xml")
    outcome, grown = read_apart(path)
    assert outcome == (
        "the workbook part xl/strings.xml gives itself another name ('xl/sharedStrings.xml'), "
        "which readers take differently; refusing it"
    )
    assert grown < BOUND_MB
