"""Which part of a workbook's archive calamine reads for each of its sheets, where the workbook
says so plainly, so that a sheet's part may be checked just before that sheet is read.

calamine finds the workbook (`xl/workbook.xml`) from the package's relationships
(`_rels/.rels`), each sheet's part from the workbook's relationships
(`xl/_rels/workbook.xml.rels`), and an entry by its name in any case. The answer holds only for
the layout every common writer uses: the workbook at `xl/workbook.xml`, every sheet a worksheet
at `worksheets/<letters, digits>.xml`, each sheet's part an entry of its own, no two entries
one name to calamine, these three parts small and plain. For any other workbook there is no
answer (an empty one), and every part is checked before any sheet is read; so too where
calamine names the sheets otherwise than this reading of the same XML (`archive.Later.expect`).
"""

from __future__ import annotations

import re
import string
import zipfile
from xml.etree import ElementTree

_PACKAGE = "_rels/.rels"
_WORKBOOK = "xl/workbook.xml"
_WORKBOOK_RELATIONSHIPS = "xl/_rels/workbook.xml.rels"
_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
_WORKSHEET = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
#: A worksheet's part, as a relationship's target names it (relative to `xl/`, or absolute).
_SHEET_TARGET = re.compile(r"(?:/xl/)?(worksheets/[A-Za-z0-9_]+\.xml)")
#: A namespace prefix named `id` declared.
_ID_PREFIX = re.compile(rb"xmlns:id\s*=")
#: Letters made lower case as calamine does it (ASCII only: `str.lower` does more).
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
#: Bytes beyond which one of the three parts is no plain one.
_SMALL = 1 << 20


class _Unplain(Exception):
    """The workbook departs from the plain layout."""


def sheet_parts(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Each sheet's name, and the entry calamine reads for it; empty unless the workbook is
    laid out plainly (see the module). The archive's parts must have passed the prologue
    check (no DTD: XML here declares no entity)."""
    entries: dict[str, zipfile.ZipInfo] = {}
    for entry in archive.infolist():
        key = entry.filename.replace("\\", "/").translate(_ASCII_LOWER)
        if key in entries:
            return {}
        entries[key] = entry
    try:
        _plain_document(archive, entries)
        targets = {
            rel: (target, kind)
            for rel, target, kind in _relationships(archive, entries, _WORKBOOK_RELATIONSHIPS)
        }
        parts = {name: _part(targets.get(rel), entries) for name, rel in _sheets(archive, entries)}
    except (_Unplain, ElementTree.ParseError):
        return {}
    if len(set(map(id, parts.values()))) != len(parts):
        return {}
    return parts


def _plain_document(archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo]) -> None:
    """Refuses a package whose workbook is not `xl/workbook.xml` (calamine's folder for the
    workbook's parts is then another)."""
    package = _relationships(archive, entries, _PACKAGE)
    # calamine takes the last relationship whose type ends so (strict OOXML's among them).
    documents = [t for _, t, kind in package if kind.lower().endswith("/officedocument")]
    if documents not in (["xl/workbook.xml"], ["/xl/workbook.xml"]):
        raise _Unplain


def _part(
    relationship: tuple[str, str] | None, entries: dict[str, zipfile.ZipInfo]
) -> zipfile.ZipInfo:
    """The entry of a sheet whose relationship is `(target, kind)`: a worksheet's plain part."""
    target, kind = relationship or ("", "")
    found = _SHEET_TARGET.fullmatch(target)
    entry = entries.get(f"xl/{found[1]}".translate(_ASCII_LOWER)) if found else None
    if kind != _WORKSHEET or entry is None:
        raise _Unplain
    return entry


def _root(
    archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], name: str
) -> ElementTree.Element:
    entry = entries.get(name)
    if entry is None or entry.file_size > _SMALL:
        raise _Unplain
    data = archive.read(entry)
    if b"&" in data:  # calamine takes some attributes as written, others unescaped
        raise _Unplain
    if _ID_PREFIX.search(data):  # to calamine an attribute named `id`; to XML, no attribute
        raise _Unplain
    return ElementTree.fromstring(data)  # noqa: S314 - small, and declares no entity


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _relationships(
    archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], name: str
) -> list[tuple[str, str, str]]:
    """The relationships' ids, targets and types, in order; their ids must differ."""
    root = _root(archive, entries, name)
    # calamine reads every relationship however deep; here, only the root's own, childless.
    if _local(root.tag) != "Relationships" or any(
        _local(element.tag) != "Relationship" or len(element) for element in root
    ):
        raise _Unplain
    found = [(e.get("Id", ""), e.get("Target", ""), e.get("Type", "")) for e in root]
    if len({rel for rel, _, _ in found}) != len(found):
        raise _Unplain
    return found


def _sheets(archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo]) -> list[tuple[str, str]]:
    """Each sheet's name and relationship id, in order; names must differ."""
    root = _root(archive, entries, _WORKBOOK)
    if _local(root.tag) != "workbook" or any(
        _local(e.tag) == "workbook" for e in root.iter() if e is not root
    ):
        raise _Unplain
    sheets = []
    for element in root.iter():
        if _local(element.tag) != "sheet":
            continue
        ids = [value for key, value in element.items() if _local(key) == "id"]
        if len(ids) != 1 or "name" not in element.attrib:
            raise _Unplain
        sheets.append((element.attrib["name"], ids[0]))
    if len({name for name, _ in sheets}) != len(sheets):
        raise _Unplain
    return sheets
