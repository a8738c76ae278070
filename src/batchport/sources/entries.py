"""What every entry of a workbook's archive must be before any of its XML is parsed: few
enough, small enough unpacked (zip bombs), named alike to every reader, and with a prologue
that declares no DTD or entities and ends soon."""

from __future__ import annotations

import codecs
import re
import struct
import zipfile
from collections.abc import Iterator

from batchport.errors import SourceError
from batchport.sources.base import Limits

#: Bytes of a part's prologue (what precedes its root element) beyond which it is refused.
_PROLOGUE_LIMIT = 64 << 10
#: The zip extra field that gives an entry's name anew (Info-ZIP Unicode Path).
_UNICODE_PATH = 0x7075


def check_entries(archive: zipfile.ZipFile, name: str, limits: Limits) -> None:
    """Refuses the archive for its entries' count, sizes, names or any one's prologue."""
    entries = archive.infolist()
    _check_sizes(entries, name, limits)
    _check_names(entries, name)
    for entry in entries:
        _check_prologue(archive, entry, name)


def _check_sizes(entries: list[zipfile.ZipInfo], name: str, limits: Limits) -> None:
    if len(entries) > limits.max_zip_entries:
        raise SourceError(
            name,
            f"the workbook's archive has {len(entries):,} entries; the limit is "
            f"{limits.max_zip_entries:,}",
        )
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > limits.max_unpacked_bytes:
        raise SourceError(
            name,
            f"the workbook unpacks to {unpacked:,} bytes; the limit is "
            f"{limits.max_unpacked_bytes:,}",
            hint="raise it with --max-file-size",
        )
    largest = max(entries, key=lambda entry: entry.file_size, default=None)
    if largest and largest.file_size > limits.max_workbook_memory:
        raise SourceError(
            name,
            f"the workbook part {largest.filename} unpacks to {largest.file_size:,} bytes, more "
            f"than the limit of {limits.max_workbook_memory:,} bytes of memory for reading a "
            "workbook",
        )


def _check_names(entries: list[zipfile.ZipInfo], name: str) -> None:
    """Refuses an entry that names itself otherwise in an Info-ZIP Unicode Path field: calamine's
    zip reader takes that name, Python's the header's, so a part checked under one name would
    be read under the other."""
    for entry in entries:
        for other in _unicode_paths(entry.extra):
            if other != entry.filename.encode():
                raise SourceError(
                    name,
                    f"the workbook part {entry.filename} gives itself another name "
                    f"({other.decode(errors='replace')!r}), which readers take differently; "
                    "refusing it",
                )


def _unicode_paths(extra: bytes) -> Iterator[bytes]:
    """The names the Unicode Path fields (0x7075: version, CRC-32, name) of an entry's extra
    data hold."""
    at = 0
    while at + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, at)
        if kind == _UNICODE_PATH:
            yield extra[at + 9 : at + 4 + size]
        at += 4 + size


_PROLOGUE_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)


def _check_prologue(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, name: str) -> None:
    """Refuses a part whose prologue (all before its root element: the XML declaration,
    comments, processing instructions) declares a DTD or entities, or runs on past
    `_PROLOGUE_LIMIT` bytes. A part that is no XML has no prologue."""
    with archive.open(entry) as stream:
        head = stream.read(_PROLOGUE_LIMIT + 1)
    at = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    while (item := _PROLOGUE_ITEM.match(head, at)) and item.end() <= _PROLOGUE_LIMIT:
        at = item.end()
    rest = head[at:]
    if rest.startswith(b"<!") and not rest.startswith(b"<!--"):
        raise SourceError(
            name,
            f"the workbook part {entry.filename} declares a DTD or XML entities, which no "
            "spreadsheet needs; refusing it (an XML bomb or an external-entity attack?)",
        )
    if len(head) > _PROLOGUE_LIMIT and (rest[:1].isspace() or rest.startswith((b"<?", b"<!-"))):
        raise SourceError(
            name,
            f"the workbook part {entry.filename} has more than {_PROLOGUE_LIMIT:,} bytes before "
            "its root element; refusing it",
        )
