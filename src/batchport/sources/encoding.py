"""Which codec turns a CSV file's bytes into text, and what to tell a user whose bytes do not
fit it: a byte-order mark, else the encoding given, else UTF-8, else a confident guess."""

from __future__ import annotations

import codecs
from pathlib import Path

from batchport.errors import SourceError
from batchport.sources.detection import CANDIDATES, display_name, guess

#: How much of the file is looked at to detect its encoding (and delimiter).
SAMPLE_BYTES = 64 * 1024
#: The default of `--encoding`, in words, for the CLI's help and the API's documentation.
DEFAULT_ENCODING = (
    "detected: the byte-order mark's if the file starts with one (it wins over --encoding "
    "too), else UTF-8 if the first 64 KiB are UTF-8, else the legacy encoding "
    "charset-normalizer finds if its guess is unambiguous; a file whose encoding cannot be "
    "told for sure is refused, naming the candidates"
)

# UTF-32's little-endian mark starts with UTF-16's, so it is looked for first.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: How archives and other binary files start; none of them is CSV.
_BINARY_MAGIC = {
    b"PK\x03\x04": "a zip archive (an .xlsx workbook? give the file its .xlsx name)",
    b"\xd0\xcf\x11\xe0": "an old Office document (an .xls workbook? save it as .xlsx or CSV)",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\x1f\x8b": "a gzip archive",
}
#: Bytes around an undecodable one that are looked at to suggest the file's encoding.
_WINDOW_BYTES = 16 * 1024
#: Bytes read at a time when the whole file is searched for NUL.
_SCAN_BYTES = 1 << 20


def codec_for(file: str, sample: bytes, given: str | None) -> str:
    """The codec to read a file starting with `sample` in.

    A byte-order mark decides, whatever `given` says: it is the one statement a file makes
    about its encoding, and reading past it in another encoding turns the first column's name
    and every accented letter into mojibake. The name of what was used is `display_name`'s.
    """
    for bom, codec in _BOMS:
        if sample.startswith(bom):
            return codec
    for magic, what in _BINARY_MAGIC.items():
        if sample.startswith(magic):
            raise SourceError(file, f"this is {what}, not a CSV file")
    if given:
        return _checked(given)
    if b"\x00" in sample:
        raise _binary(file, sample)
    head = _whole_lines(sample)
    return "utf-8" if _mostly_utf8(head) else _guessed(file, head)


def _whole_lines(sample: bytes) -> bytes:
    """`sample` without the line the sample's end cuts (a character may be cut with it)."""
    if len(sample) < SAMPLE_BYTES:
        return sample
    end = sample.rfind(b"\n") + 1
    return sample[:end] if end else sample


def undecodable(path: Path, codec: str) -> SourceError:
    """The error for the first bytes of `path` that `codec` cannot decode, naming their line
    and, as a hint, an encoding to try that is not this one."""
    offset, byte, reason = _first_undecodable(path, codec)
    name = display_name(codec)
    return SourceError(
        str(path),
        f"the bytes are not valid {name} (byte 0x{byte:02x}, {reason}) at line "
        f"{_line_at(path, offset, codec)}",
        hint=_retry_hint(path, max(offset, 0), name),
    )


def nul_line(path: Path, codec: str) -> int | None:
    """The line of the file's first NUL character, if it has one.

    Python's csv reads NUL as text (since 3.11), SQLite stores it and PostgreSQL refuses the
    row naming none, so the whole file is searched before it is read: a megabyte at a time
    with one `memchr` each, about 1% of the time csv then takes. In UTF-16 and UTF-32 a NUL
    is a character's zero bytes, so those are searched once decoded.
    """
    if _wide(codec):
        return _decoded_nul_line(path, codec)
    offset = 0
    with path.open("rb", buffering=0) as raw:
        while block := raw.read(_SCAN_BYTES):
            if (at := block.find(b"\x00")) >= 0:
                return _line_at(path, offset + at, codec)
            offset += len(block)
    return None


def _decoded_nul_line(path: Path, codec: str) -> int | None:
    decoder = codecs.getincrementaldecoder(codec)("replace")
    lines = 1
    with path.open("rb") as raw:
        while block := raw.read(_SCAN_BYTES):
            text = decoder.decode(block)
            if (at := text.find("\x00")) >= 0:
                return lines + text.count("\n", 0, at)
            lines += text.count("\n")
    return None


def _wide(codec: str) -> bool:
    return codecs.lookup(codec).name.startswith(("utf-16", "utf-32"))


def _line_at(path: Path, offset: int, codec: str) -> int:
    """The line (counted from 1) that byte `offset` of the file is on."""
    decoder = codecs.getincrementaldecoder(codec)("replace") if _wide(codec) else None
    newlines = 0
    with path.open("rb") as raw:
        while offset > 0 and (block := raw.read(min(SAMPLE_BYTES, offset))):
            offset -= len(block)
            newlines += decoder.decode(block).count("\n") if decoder else block.count(b"\n")
    return newlines + 1


def _first_undecodable(path: Path, codec: str) -> tuple[int, int, str]:
    """The offset, value and fault of the first byte `codec` cannot decode; read again in
    binary, as the text layer raises its error only a buffer later (-1, 0, "" if none)."""
    # UTF-8 reads its own byte-order mark as a character, keeping offsets those of the file.
    decoder = codecs.getincrementaldecoder("utf-8" if codec == "utf-8-sig" else codec)()
    offset = 0
    with path.open("rb") as raw:
        while block := raw.read(SAMPLE_BYTES):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return offset - pending + exc.start, exc.object[exc.start], exc.reason
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return offset - len(exc.object) + exc.start, exc.object[exc.start], exc.reason
    return -1, 0, ""


def _retry_hint(path: Path, offset: int, failed: str) -> str:
    """What to try instead of `failed`: never `failed` itself."""
    window = _window(path, offset)
    if failed == "utf-8" and _mostly_utf8(window) and not window.isascii():
        return (
            "the lines around it are UTF-8: correct that line (save the file as UTF-8 again), "
            "or name the file's encoding with --encoding"
        )
    found = guess(window, excluding=failed)
    if found.codec:
        name = display_name(found.codec)
        return f"name the file's encoding with --encoding; that line reads as {name}"
    return f"name the file's encoding with --encoding (it is not {failed})"


def _window(path: Path, offset: int) -> bytes:
    """The whole lines of the file around byte `offset`."""
    start = max(offset - _WINDOW_BYTES, 0)
    with path.open("rb") as raw:
        raw.seek(start)
        window = raw.read(2 * _WINDOW_BYTES)
    if start:
        window = window[window.find(b"\n") + 1 :]
    return _whole_lines(window) if len(window) >= _WINDOW_BYTES else window


def _mostly_utf8(sample: bytes) -> bool:
    """Whether `sample` is UTF-8: plain ASCII, or valid multi-byte characters at least half
    as many as the bytes that are not.

    A UTF-8 file with a few stray bytes stays UTF-8, each stray byte an error naming its line
    rather than a reason to read every other letter wrong. A legacy file holds valid
    sequences only by chance: at most a fifth as many as invalid bytes in the files measured
    (Ukrainian capitals in Windows-1251, Korean in EUC-KR).
    """
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(sample)
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad
    return 2 * good >= bad


def _guessed(file: str, head: bytes) -> str:
    found = guess(head)
    if found.codec:
        return found.codec
    if not found.rivals:
        names = ", ".join(sorted({display_name(c) for c in CANDIDATES}))
        raise SourceError(
            file,
            f"the file is not UTF-8, nor in an encoding batchport recognises by itself ({names})",
            hint="name the file's encoding with --encoding",
        )
    raise SourceError(
        file,
        f"the file is not UTF-8, and which encoding it is in cannot be told for sure: it reads "
        f"as {found.describe()}",
        hint=f"name the file's encoding with --encoding, e.g. --encoding "
        f"{display_name(found.rivals[0].codec)}",
    )


def nul_refusal(file: str, line: int, *, utf16: bool = False) -> SourceError:
    """The error for a NUL on `line`; `utf16` when the file may be UTF-16 without its mark."""
    return SourceError(
        file,
        f"line {line} holds a NUL character (byte 0x00), which a CSV file never holds: is "
        "this a binary file?"
        + (" A CSV file saved as UTF-16 needs its byte-order mark" if utf16 else ""),
        hint="if it is UTF-16, name it with --encoding utf-16-le (or utf-16-be)" if utf16 else None,
    )


def _binary(file: str, sample: bytes) -> SourceError:
    line = sample.count(b"\n", 0, sample.index(b"\x00")) + 1
    return nul_refusal(file, line, utf16=sample.count(b"\x00") > len(sample) // 4)


def text_codec(name: str) -> codecs.CodecInfo | None:
    """The codec of the text encoding `name` (any spelling Python knows), else None: a codec
    of bytes (base64) or of text to text (rot13) is no encoding of a file. The CLI's
    `--encoding` and the API's `encoding` are checked with it too."""
    try:
        codec = codecs.lookup(name)
        "a".encode(codec.name)
    except (LookupError, UnicodeError, ValueError, TypeError):
        return None
    return codec


def _checked(name: str) -> str:
    if text_codec(name) is None:
        raise SourceError("--encoding", f"unknown encoding {name!r}")
    return name
