"""CSV files are read as the text they hold, or refused with an error naming the line: the
encoding is detected only when the guess is sure, a byte-order mark always wins, and NUL bytes,
unclosed quotes and blank header rows are named where they are."""

from __future__ import annotations

import codecs

import pytest

from batchport.errors import SourceError
from batchport.sources import Limits, open_source


def write(tmp_path, data: bytes, name: str = "data.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read(path, **options):
    """The header, the data rows (cells only) and the encoding the file was read in."""
    with open_source(path, **options) as source:
        return source.header(), [cells for _, cells in source.rows()], source.encoding


# --- detection ---------------------------------------------------------------------------

LEGACY = {
    "Cyrillic, windows-1251": (
        "cp1251",
        "windows-1251",
        "code,name,city\n1,Иван Петров,Москва\n2,Мария Сидорова,Санкт-Петербург\n"
        "3,Алексей Смирнов,Новосибирск\n",
    ),
    "Western, windows-1252": (
        "cp1252",
        "windows-1252",
        "code,name,city\n1,Café Müller,Zürich\n2,Ñandú Peña,Málaga\n3,François Lefèvre,Besançon\n",
    ),
    "Polish, windows-1250": (
        "cp1250",
        "windows-1250",
        "code,name,city\n1,Łukasz Wójcik,Łódź\n2,Małgorzata Kowalczyk,Gdańsk\n"
        "3,Paweł Wiśniewski,Kraków\n",
    ),
    "Turkish, windows-1254": (
        "cp1254",
        "windows-1254",
        "code,name,city\n1,Ahmet Yılmaz,İstanbul\n2,Ayşe Çelik,Eskişehir\n"  # noqa: RUF001
        "3,Şükrü Ağaoğlu,Muğla\n",
    ),
    "Greek, windows-1253": (
        "cp1253",
        "windows-1253",
        "code,name,city\n1,Γιώργος Παπαδόπουλος,Αθήνα\n2,Μαρία Κωνσταντίνου,Θεσσαλονίκη\n"
        "3,Νίκος Δημητρίου,Πάτρα\n",
    ),
    "Japanese, Shift JIS": (
        "shift_jis",
        "cp932",
        "code,name,city\n1,山田太郎,東京都\n2,佐藤花子,大阪府\n3,株式会社さくら,名古屋市\n",
    ),
    "Chinese, GB2312": (
        "gb2312",
        "gb18030",
        "code,name,city\n1,张伟,北京市\n2,王芳,上海市\n3,李娜,广州市\n4,刘洋,深圳市\n",
    ),
}


@pytest.mark.parametrize(("codec", "named", "text"), LEGACY.values(), ids=LEGACY.keys())
def test_a_legacy_encoding_is_detected_from_its_text(tmp_path, codec, named, text):
    """A file that is not UTF-8 is read as the text it was written as, and the encoding is
    named for the report (charset-normalizer's first guess reads the Polish and Turkish files
    as Windows-1252)."""
    header, rows, encoding = read(write(tmp_path, text.encode(codec)))
    lines = [line.split(",") for line in text.splitlines()]
    assert (header, rows, encoding) == (lines[0], lines[1:], named)


def test_plain_ascii_is_utf8(tmp_path):
    """A file without a byte beyond ASCII is read, and reported, as UTF-8."""
    assert read(write(tmp_path, b"code,name\nA,Alpha\n")) == (
        ["code", "name"],
        [["A", "Alpha"]],
        "utf-8",
    )


def test_a_few_random_high_bytes_are_refused_not_guessed(tmp_path):
    """Bytes that no common encoding reads as words are refused, asking for --encoding."""
    path = write(tmp_path, b"code,name\nA,\x8e\xe4\x9b\xd7\n")
    with pytest.raises(SourceError, match="cannot be told for sure") as caught:
        read(path)
    assert "--encoding" in (caught.value.hint or "")


def test_a_word_two_encodings_read_alike_is_refused_naming_both(tmp_path):
    """'Peña' alone could be Windows-1250's 'Peńa' as well: both candidates are named, with
    their reading, instead of one being picked."""
    with pytest.raises(SourceError) as caught:
        read(write(tmp_path, "code,name\n1,Peña\n".encode("cp1252")))
    assert "windows-1250 ('Peńa')" in caught.value.message
    assert "windows-1252 ('Peña')" in caught.value.message
    assert "--encoding windows-" in (caught.value.hint or "")


def test_an_encoding_batchport_does_not_guess_must_be_named(tmp_path):
    """Thai in TIS-620 is not guessed (it would be read as Japanese); named, it is read."""
    path = write(tmp_path, "code,name\n1,สมชาย ใจดี\n".encode("cp874"))
    with pytest.raises(SourceError, match="not UTF-8"):
        read(path)
    assert read(path, encoding="cp874")[1] == [["1", "สมชาย ใจดี"]]


# --- mojibake is never stored ------------------------------------------------------------


def test_utf8_with_a_stray_byte_is_an_error_naming_line_and_byte(tmp_path):
    """A UTF-8 file with one Windows-1252 line is not re-read whole as Windows-1252
    ('CafÃ©'): the stray byte is an error naming its line, and the hint says to fix it."""
    data = "code,name\nA,Café\nB,Zürich\n".encode() + "C,Crème\n".encode("cp1252")
    with pytest.raises(SourceError, match=r"not valid utf-8 \(byte 0xe8, .*\) at line 4") as caught:
        read(write(tmp_path, data))
    assert "the lines around it are UTF-8" in (caught.value.hint or "")


def test_a_stray_byte_after_the_sample_names_its_line(tmp_path):
    """A bad byte beyond the first 64 KiB is found and named by its line too."""
    data = b"code,name\n" + "A,Café\n".encode() * 20_000 + b"B,Z\xfcrich\n"
    with pytest.raises(SourceError, match=r"byte 0xfc.* at line 20002"):
        read(write(tmp_path, data))


@pytest.mark.parametrize(
    ("data", "given", "name"),
    [
        ("code,name\nZ,Zürich\n".encode("latin-1"), "utf-8", "utf-8"),
        (b"code,name\nA,a\x81b\n", "cp1252", "windows-1252"),
        (b"code,name\nA,a\x81b\n", "windows-1252", "windows-1252"),
    ],
)
def test_the_hint_never_suggests_the_encoding_that_failed(tmp_path, data, given, name):
    """Named and wrong, the encoding is reported with a hint that suggests another one."""
    with pytest.raises(SourceError, match=f"not valid {name} .* at line 2") as caught:
        read(write(tmp_path, data), encoding=given)
    hint = caught.value.hint or ""
    assert "--encoding" in hint
    assert f"--encoding {given}" not in hint
    assert f"reads as {name}" not in hint


# --- byte-order marks --------------------------------------------------------------------

TEXT = "code,name\r\nA,Åse\r\n"


@pytest.mark.parametrize(
    ("data", "given", "used"),
    [
        (TEXT.encode("utf-8-sig"), "utf-8", "utf-8"),
        (TEXT.encode("utf-8-sig"), None, "utf-8"),
        (TEXT.encode("utf-8-sig"), "cp1252", "utf-8"),
        (TEXT.encode("utf-16"), "utf-16-le", "utf-16"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16-be", "utf-16"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), None, "utf-16"),
        (TEXT.encode("utf-32"), None, "utf-32"),
    ],
    ids=[
        "utf-8 named",
        "utf-8",
        "cp1252 named",
        "utf-16-le named",
        "utf-16-be named",
        "utf-16-be",
        "utf-32",
    ],
)
def test_a_byte_order_mark_is_dropped_whatever_encoding_is_named(tmp_path, data, given, used):
    """Excel's "CSV UTF-8" read with --encoding utf-8 has a column 'code', not '\\ufeffcode';
    a mark that contradicts --encoding wins, as the file's own statement of its encoding."""
    assert read(write(tmp_path, data), encoding=given) == (["code", "name"], [["A", "Åse"]], used)


# --- NUL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"code,name\nA,a\x00b\n", 2),
        (b"code,name\n" + b"A,a\n" * 300_000 + b"B,b\x00c\n", 300_002),
        (("code,name\n" + "A,a\n" * 40_000 + "B,b\x00c\n").encode("utf-16"), 40_002),
    ],
    ids=["in the sample", "after 1 MiB", "utf-16"],
)
def test_a_nul_anywhere_is_an_error_naming_its_line(tmp_path, data, line):
    """A NUL byte (a NUL character in UTF-16) is refused wherever it is, before any row is
    read: Python's csv would take it for text."""
    with pytest.raises(SourceError, match=f"line {line} holds a NUL"):
        open_source(write(tmp_path, data))


def test_a_nul_in_a_named_encoding_is_an_error_too(tmp_path):
    """With --encoding, a NUL is still refused (no detection looks at the sample then)."""
    with pytest.raises(SourceError, match="line 3 holds a NUL character"):
        open_source(write(tmp_path, b"code,name\nA,a\nB,\x00\n"), encoding="latin-1")


# --- unclosed quotes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b'code,name\n1,a\n2,b\n3,"open\n4,d\n5,e\n', 4),
        (b'code,name\n1,"two\nlines","open\nmore\n', 3),
        (b'code,name\n1,"say ""hi""\nthere ""you""\n2,b\n', 2),
    ],
    ids=["one line", "after a closed multi-line cell", "with quotes inside"],
)
def test_an_unclosed_quote_is_reported_where_it_opens(tmp_path, data, line):
    """Not at the end of the file, where csv notices: at the line the cell opens on."""
    with pytest.raises(SourceError, match=f"a quoted cell opened at line {line} is never closed"):
        read(write(tmp_path, data))


def test_an_unclosed_quote_past_the_cell_limit_names_its_opening_line(tmp_path):
    """When the rest of the file overflows the cell limit, the error is still the quote's."""
    data = b'code,name\n1,a\n2,"open\n' + b"3,x\n" * 300
    with pytest.raises(
        SourceError, match="the quoted cell opened at line 3 is longer than 500 characters"
    ) as caught:
        read(write(tmp_path, data), limits=Limits(max_cell_chars=500))
    assert "closing quote" in caught.value.message
    assert "--max-cell-size" in (caught.value.hint or "")


def test_a_long_cell_on_one_line_is_only_too_long(tmp_path):
    """A cell over the limit on its own line says so, with no talk of quotes."""
    data = b"code,name\n1," + b"x" * 600 + b"\n"
    with pytest.raises(SourceError, match="at line 2: a cell is longer than 500") as caught:
        read(write(tmp_path, data), limits=Limits(max_cell_chars=500))
    assert "quote" not in caught.value.message


# --- blank header rows -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line"),
    [(b"\ncode,name\n1,a\n", 2), (b",,\n \n\ncode,name\n1,a\n", 4)],
    ids=["a blank line", "delimiters and blank lines"],
)
def test_a_blank_header_row_names_the_first_line_that_is_not(tmp_path, data, line):
    """A blank row 1 is not an empty file: the error says where the first non-blank line is."""
    with pytest.raises(SourceError) as caught:
        read(write(tmp_path, data))
    assert caught.value.message == (
        f"row 1, the header row, is blank; the first non-blank line is line {line}: "
        "remove the lines above it"
    )
