"""E-mail cells hold an address as email-validator accepts it (no DNS lookup), stored in one
normalised form, whichever way it was typed; a rejection says why and what was expected."""

from __future__ import annotations

import random
import string
import unicodedata

import pytest
from email_validator import EmailNotValidError, validate_email

from batchport.columns.parsers import CellInvalid, Email

EMAIL = Email(255)


def stored(text: str) -> str | None:
    """What email-validator makes of `text`, in lower case (None if it rejects it): the
    reference every path must agree with."""
    try:
        found = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None
    return unicodedata.normalize("NFC", found.normalized.lower())


def parsed(text: str) -> str | None:
    """What an e-mail cell holding `text` stores (None if it is rejected)."""
    try:
        return EMAIL(text)
    except CellInvalid:
        return None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Ann.Lee@Example.ORG", "ann.lee@example.org"),
        ("o'brien+news@Mail.Example.co.uk", "o'brien+news@mail.example.co.uk"),
        ("user@xn--bcher-kva.example", "user@bücher.example"),
        ("USER@BÜCHER.example", "user@bücher.example"),
        ("用户@例子.广告", "用户@例子.广告"),
        ("Jose\u0301@example.com", "jos\u00e9@example.com"),
    ],
)
def test_email_is_stored_normalised_and_in_lower_case(text, value):
    """The whole address is lower-cased, the domain IDNA-normalised (Punycode shown as
    Unicode), the text NFC-normalised: one spelling per address, so keys compare."""
    assert EMAIL(text) == value
    assert EMAIL(value) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<dave@example.com>", "display name and angle brackets"),
        ("Dave <dave@example.com>", "display name and angle brackets"),
        ("mailto:erin@example.com", "a mailto: prefix is not part of the address"),
        ('"ann lee"@example.com', "quoting the part before the @-sign"),
        ("ann@[192.0.2.1]", "bracketed IP address"),
        ("ann@printer.local", "special-use or reserved name"),
        ("ann@localhost", "should have a period"),
        ("ann lee@example.com", "invalid characters before the @-sign: SPACE"),
        ("ann..lee@example.com", "two periods in a row"),
        ("ann", "must have an @-sign"),
        ("ann@", "something after the @-sign"),
    ],
)
def test_email_rejection_says_why_and_what_was_expected(text, reason):
    """Display names, angle brackets, mailto:, quotes, IP literals and reserved domains are
    refused with email-validator's reason and the form expected."""
    with pytest.raises(CellInvalid) as caught:
        EMAIL(text)
    message = str(caught.value)
    assert message.startswith("is not an e-mail address: ")
    assert reason in message
    assert message.endswith("expected a bare address like name@example.com")


def test_email_longer_than_its_column_is_rejected():
    """An address longer than the column is refused with its length."""
    with pytest.raises(CellInvalid, match="is 21 characters long; at most 20"):
        Email(20)("ann.lee@example.co.uk")


def test_email_column_and_cell_agree():
    """A column parsed at once stores what each cell stores alone, plain or not."""
    texts = ["Ann@X.org", "user@xn--bcher-kva.example", "bob@x.org"]
    assert EMAIL.column(texts) == [EMAIL(text) for text in texts]
    with pytest.raises(CellInvalid):
        EMAIL.column(["ann@x.org", "<bob@x.org>"])


def _near_addresses() -> list[str]:
    """Addresses and near misses: every ASCII character (and some runs and non-ASCII ones)
    inserted into, put in place of, or ending plain addresses; then random mixtures."""
    bases = ["ab.c@de-f.gh", "A@B-C.D", "x.y+z@mail.example.org", "m@1.2.3.com", "u@ab-cd.arpa1"]
    extra = ["--", "xn--", ".-", "-.", "..", "@.", "LOCAL", "test", "arpa", "onion", "é", "ß"]
    pieces = [chr(code) for code in range(128)] + extra
    texts = [
        variant
        for base in bases
        for i in range(len(base) + 1)
        for piece in pieces
        for variant in (base[:i] + piece + base[i:], base[:i] + piece + base[i + 1 :])
    ]
    chooser = random.Random(20261201)  # noqa: S311 - test data, not a secret
    alphabet = [*string.ascii_letters, *string.digits, *".-_+'@", "--", "xn--", "ü", " ", "<"]
    tlds = ["com", "ORG", "io", "1", "local", "Test", "xn--p1ai", "c-m"]
    for _ in range(5000):
        local = "".join(chooser.choices(alphabet, k=chooser.randint(0, 6)))
        labels = ["".join(chooser.choices(alphabet, k=chooser.randint(0, 5))) for _ in range(2)]
        texts.append(f"{local}@{'.'.join([*labels, chooser.choice(tlds)])}")
    texts += ["a@" + ".".join(["b" * size] * 4) + ".org" for size in (62, 63, 64)]
    texts += [f"a@{'b' * size}.{tld}" for size in (62, 63, 64) for tld in ("c", "co")]
    texts += ["x" * size + "@example.org" for size in (241, 242, 243)]
    return texts


def test_email_agrees_with_email_validator_on_near_addresses():
    """On thousands of addresses and near misses, a cell, and a column of a few cells, store
    exactly what email-validator accepts, normalised and lower-cased, and reject what it
    rejects (the quick check of plain addresses included); a stored value parses to itself."""
    texts = _near_addresses()
    expected = list(map(stored, texts))
    found = list(map(parsed, texts))
    assert [(t, f, e) for t, f, e in zip(texts, found, expected, strict=True) if f != e] == []
    accepted = [value for value in found if value is not None]
    assert len(accepted) > 5000
    assert [EMAIL(value) for value in accepted] == accepted
    chooser = random.Random(7)  # noqa: S311 - test data, not a secret
    valid = [text for text, value in zip(texts, found, strict=True) if value is not None]
    invalid = [text for text, value in zip(texts, found, strict=True) if value is None]
    for turn in range(3000):
        window = chooser.sample(valid, 4)
        if turn % 3 == 0:
            window[turn % 4] = chooser.choice(invalid)
        wanted = [stored(text) for text in window]
        try:
            assert EMAIL.column(window) == wanted
        except CellInvalid:
            assert None in wanted
    plain = [text for text, value in zip(texts, found, strict=True) if value and text.isascii()]
    assert EMAIL.column(plain) == [stored(text) for text in plain]
