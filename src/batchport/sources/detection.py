"""Which legacy encoding a file that is not UTF-8 is in, or that this cannot be told.

charset-normalizer proposes readings of the sample; many of them are text without a
flaw it can see (Polish read as Windows-1252 scores as well as Polish read as Windows-1250, and
Turkish as Windows-1252 better than as Windows-1254). So each distinct reading is also checked
the way a person would read it: no symbol or control character inside a word, no word mixing
scripts (Latin with Cyrillic) or cases (a capital after a small letter), accented letters that
few languages need between them. A reading wins only if it is clearly better than every other;
else the guess is not confident and the caller refuses the file, naming the candidates.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

#: The legacy encodings spreadsheets and databases still export text in, most common first
#: (the first of several that read a sample alike is the one used). Any other encoding (Mac
#: Roman, DOS code pages, Thai, Vietnamese) must be named: it would be guessed for random
#: bytes far more often than it is right.
CANDIDATES = (
    "cp1252",
    "cp1251",
    "cp1250",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "iso8859_2",
    "iso8859_15",
    "koi8_r",
    "shift_jis",
    "euc_jp",
    "gb2312",
    "big5",
    "euc_kr",
)
#: CJK encodings are detected in their strict standard form, which random bytes rarely fit,
#: and read in the superset Windows writes, which also decodes the rarer characters.
READ_AS = {"shift_jis": "cp932", "gb2312": "gb18030", "big5": "cp950", "euc_kr": "cp949"}

#: The accented letters of the languages written in Latin script with these encodings.
_ALPHABETS = {
    language: frozenset(letters)
    for language, letters in {
        "fr": "àâæçéèêëîïôœùûüÿ",
        "de": "äöüß",
        "es": "áéíñóúü",
        "pt": "àáâãçéêíóôõú",
        "it": "àèéìíîòóù",
        "ca": "àçèéíïòóúü",
        "nl": "áéèëïóöü",
        "sv": "åäöé",
        "da": "æøåé",
        "no": "æøåéèêóòô",
        "fi": "äöåšž",
        "is": "áðéíóúýþæö",
        "pl": "ąćęłńóśźż",
        "cs": "áčďéěíňóřšťúůýž",
        "sk": "áäčďéíĺľňóôŕšťúýž",
        "sl": "čšž",
        "hr": "čćđšž",
        "hu": "áéíóöőúüű",
        "ro": "ăâîșțşţ",
        "sq": "çë",
        "tr": "çğıöşüâîû",
        "lt": "ąčęėįšųūž",
        "lv": "āčēģīķļņšūž",
        "et": "äõöüšž",
        "ga": "áéíóú",
    }.items()
}
#: Scripts whose letters never share a word; CJK scripts mix with Latin and each other.
_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "THAI"})
#: Punctuation that does join letters: apostrophes, dashes, the Catalan middle dot.
_JOINERS = frozenset("\u2019\u2018\u00b4\u00b7\u2010\u2013\u2014")
#: The symbols beyond ASCII that people do type in tables; any other is taken for a garbled
#: letter (box drawing, daggers, pilcrows, dead accents standing alone).
_TYPED = frozenset("\u00a0¡¢£¥§©«®°±²³´µ·¹º»¼½¾¿×–—‘’‚“”„•…€™№") | _JOINERS  # noqa: RUF001
#: Real Chinese and Japanese text has about half its ideographs among charset-normalizer's
#: most common ones; the ideographs random bytes decode to, about one in twenty.
_MIN_COMMON_IDEOGRAPHS = 0.2
_WORDS = re.compile(r"[^\s,;|\"]+")
#: How many distinct non-ASCII words are weighed; enough to decide, few enough to be quick.
_MAX_WORDS = 2000
#: How much worse than the best a reading may be and still be a rival: in the share of flawed
#: characters, in charset-normalizer's chaos and in its coherence.
_FLAW_MARGIN = 0.01
_CHAOS_MARGIN = 0.05
_COHERENCE_MARGIN = 0.1
#: A best reading with more flawed characters than this is no reading at all.
_MAX_FLAWS = 0.1
#: What a reading must show to be taken (see `Reading.evident`).
_MAX_LANGUAGES = 2
_MIN_COHERENCE = 0.1
_MIN_OTHER_LETTERS = 10


@dataclass(frozen=True)
class Reading:
    """The sample read in one encoding (`codec`), with what speaks against it."""

    codec: str
    text: str
    flaws: float
    languages: int
    chaos: float
    coherence: float
    #: Letters of scripts other than Latin (Cyrillic, Greek, Chinese...).
    other_letters: int

    @property
    def evident(self) -> bool:
        """Whether the reading shows enough to go on: accented letters a few languages share,
        a language charset-normalizer recognises, or enough letters of another script."""
        return (
            0 < self.languages <= _MAX_LANGUAGES
            or self.coherence >= _MIN_COHERENCE
            or self.other_letters >= _MIN_OTHER_LETTERS
        )


@dataclass(frozen=True)
class Guess:
    """The encoding to read the file in, if the sample tells it for sure (`codec`), and the
    readings still in the running otherwise (best first, at most a few)."""

    codec: str | None
    rivals: list[Reading]

    def describe(self) -> str:
        """The rivals as a user can compare them: each encoding with its reading of the first
        word they disagree on."""
        words = [_WORDS.findall(r.text) for r in self.rivals]
        columns = list(enumerate(zip(*words, strict=False)))
        shown = next((i for i, group in columns if len(set(group)) > 1), None)
        if shown is None:
            shown = next((i for i, group in columns if not group[0].isascii()), 0)
        return " or ".join(
            f"{display_name(r.codec)} ({w[shown]!r})" if len(w) > shown else display_name(r.codec)
            for r, w in zip(self.rivals, words, strict=True)
        )


def guess(sample: bytes, *, excluding: str | None = None) -> Guess:
    """The one encoding in `CANDIDATES` (but `excluding`) that reads `sample` clearly better
    than any other, or none; `sample` must end at a line end."""
    allowed = [c for c in CANDIDATES if excluding is None or display_name(c) != excluding]
    readings = _readings(sample, allowed)
    if not readings:
        return Guess(None, [])
    for better in _ELIMINATIONS:
        readings = better(readings)
    if len(readings) == 1 and readings[0].flaws <= _MAX_FLAWS and readings[0].evident:
        return Guess(READ_AS.get(readings[0].codec, readings[0].codec), readings)
    return Guess(None, readings[:4])


def display_name(codec: str) -> str:
    """The name a person knows an encoding by: Python's, but `utf-8` for UTF-8 read past its
    byte-order mark and `windows-125x` for the Windows code pages."""
    name = codecs.lookup(READ_AS.get(codec, codec)).name
    if name == "utf-8-sig":
        return "utf-8"
    return f"windows-{name[2:]}" if re.fullmatch(r"cp125\d", name) else name


def _readings(sample: bytes, allowed: list[str]) -> list[Reading]:
    """Each distinct text the candidates decode `sample` to, in charset-normalizer's order."""
    # Imported here: a UTF-8 file (or one with a byte-order mark) never needs it, and importing
    # it takes ~40 ms.
    from charset_normalizer import from_bytes  # noqa: PLC0415

    seen: dict[str, Reading] = {}
    for match in from_bytes(sample, cp_isolation=allowed):
        text = str(match)
        if text in seen:
            continue
        codec = min(match.could_be_from_charset, key=_rank)
        flaws, letters, other_letters = _examined(text)
        languages = _languages_needed(letters)
        seen[text] = Reading(
            codec, text, flaws, languages, match.chaos, match.coherence, other_letters
        )
    return list(seen.values())


def _rank(codec: str) -> int:
    return CANDIDATES.index(codec) if codec in CANDIDATES else len(CANDIDATES)


Elimination = Callable[[list[Reading]], list[Reading]]


def _keep_least(key: str, margin: float) -> Elimination:
    def keep(readings: list[Reading]) -> list[Reading]:
        best = min(getattr(r, key) for r in readings)
        return [r for r in readings if getattr(r, key) <= best + margin]

    return keep


def _keep_most_coherent(readings: list[Reading]) -> list[Reading]:
    best = max(r.coherence for r in readings)
    return [r for r in readings if r.coherence >= best - _COHERENCE_MARGIN]


#: Strongest evidence first: what a person sees as garbled, then how many languages the
#: accented letters need, then charset-normalizer's own measures.
_ELIMINATIONS: tuple[Elimination, ...] = (
    _keep_least("flaws", _FLAW_MARGIN),
    _keep_least("languages", 0),
    _keep_least("chaos", _CHAOS_MARGIN),
    _keep_most_coherent,
)


def _examined(text: str) -> tuple[float, set[str], int]:
    """Over the distinct words that are not plain ASCII: the share of their non-ASCII
    characters that look garbled, their accented Latin letters, and how many letters of
    other scripts they hold."""
    from charset_normalizer.constant import COMMON_CJK_CHARACTERS  # noqa: PLC0415 - see above

    words = {unicodedata.normalize("NFC", w) for w in _WORDS.findall(text) if not w.isascii()}
    flawed = total = other_letters = ideographs = common = 0
    letters: set[str] = set()
    for word in sorted(words)[:_MAX_WORDS]:
        flawed += _flawed(word)
        total += sum(not c.isascii() for c in word)
        letters.update(c.lower() for c in word if _is_latin_accented(c))
        other_letters += sum(c.isalpha() and _script(c) not in ("", "LATIN") for c in word)
        ideographs += sum(_script(c) == "CJK" for c in word)
        common += sum(c in COMMON_CJK_CHARACTERS for c in word)
    if common < ideographs * _MIN_COMMON_IDEOGRAPHS:
        flawed += ideographs
    return min(flawed / max(total, 1), 1.0), letters, other_letters


def _flawed(word: str) -> int:
    """How many non-ASCII characters of `word` no correct reading would put there."""
    scripts = {_script(c) for c in word}
    mixed = len(scripts & _SCRIPTS) > 1
    halfwidth_among_kanji = "HALFWIDTH" in scripts and bool(scripts & {"CJK", "HIRAGANA"})
    padded = f" {word} "
    return sum(
        _garbled(padded[i - 1 : i + 2], mixed=mixed, halfwidth_odd=halfwidth_among_kanji)
        for i, char in enumerate(padded)
        if not char.isascii()
    )


def _garbled(around: str, *, mixed: bool, halfwidth_odd: bool) -> bool:
    """Whether the middle character of `around` is garbled: a symbol nobody types, a symbol
    between two letters, a letter of a second script in its word, half-width katakana among
    kanji, a capital after a small letter, a Greek final sigma before a letter (where Russian
    read as Greek puts its commonest consonant)."""
    before, char, after = around[0], around[1], around[2]
    symbol = _category(char)[0] not in "LM"
    script = _script(char)
    return (
        (symbol and not _typed(char))
        or (symbol and char not in _JOINERS and before.isalpha() and after.isalpha())
        or (mixed and script in _SCRIPTS)
        or (halfwidth_odd and script == "HALFWIDTH")
        or (char.isupper() and before.islower())
        or (char == "\u03c2" and after.isalpha())
    )


def _category(char: str) -> str:
    """The character's Unicode category, but ordinal indicators and the spacing modifier
    letters (accents standing alone, letters to Unicode) counted as the symbols they look
    like."""
    return "So" if char in "ªº" or "\u02b0" <= char <= "\u02ff" else unicodedata.category(char)


def _typed(char: str) -> bool:
    """Whether people type this symbol in tables: the common ones, and the wide punctuation
    of Chinese, Japanese and Korean text."""
    return char in _TYPED or unicodedata.east_asian_width(char) in "FW"


def _script(char: str) -> str:
    return unicodedata.name(char, "?").split()[0] if char.isalpha() or _is_mark(char) else ""


def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M" and not unicodedata.name(char, "").startswith(
        "COMBINING"
    )


def _is_latin_accented(char: str) -> bool:
    # Turkish dotted capital I lowers to two characters, an i and a dot; its i is ASCII.
    return not char.isascii() and _script(char) == "LATIN" and len(char.lower()) == 1


def _languages_needed(letters: set[str], most: int = 4) -> int:
    """How few languages' alphabets hold all `letters` (more than `most`: `most` + 1)."""
    if not letters:
        return 0
    useful = [a for a in _ALPHABETS.values() if a & letters]
    for count in range(1, most + 1):
        for group in combinations(useful, count):
            if letters <= frozenset().union(*group):
                return count
    return most + 1
