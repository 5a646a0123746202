"""Files that mention a person by their identifiers: member-import CSVs (the upload, its rejected
rows and issue reports) rewritten without the person's rows.

A row is the person's when one of its cells is one of their identifiers as a brand writes it: an
email in any case, a phone number in any formatting whose digits are the E.164 number's or its
national form (a leading 0 for the country code), a member id, a LINE user id.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

_NOT_DIGITS = re.compile(r"\D")
# Country calling codes of the markets the product serves, for the national form of a number.
NATIONAL_PREFIXES = ("886", "81", "66", "852", "853", "65", "60", "82", "1", "44")


@dataclass(frozen=True, slots=True)
class Needles:
    """What the person's rows contain, in the forms compared."""

    texts: frozenset[str]  # lower-cased emails, member ids, LINE user ids, ...
    digits: frozenset[str]  # phone numbers as digits: international and national

    @classmethod
    def of(cls, identifier_keys: Iterable[str]) -> Needles:
        texts: set[str] = set()
        digits: set[str] = set()
        for key in identifier_keys:
            id_type, _, value = key.partition("#")
            if not value:
                continue
            if id_type == "phone":
                number = _NOT_DIGITS.sub("", value)
                digits.add(number)
                for prefix in NATIONAL_PREFIXES:
                    if number.startswith(prefix) and len(number) > len(prefix) + 6:
                        digits.add("0" + number[len(prefix) :])
                        digits.add(number[len(prefix) :])
                        break
            elif id_type == "line":
                texts.add(value.rpartition(":")[2].lower())  # provider:Uxxxx -> the user id
                texts.add(value.lower())
            else:
                texts.add(value.strip().lower())
        return cls(frozenset(texts), frozenset(digits))

    def match(self, cell: str) -> bool:
        text = cell.strip().lower()
        if not text:
            return False
        if text in self.texts:
            return True
        number = _NOT_DIGITS.sub("", text)
        return len(number) >= 7 and number in self.digits


def csv_without(data: bytes, needles: Needles) -> tuple[bytes, int]:
    """The CSV with the person's rows left out (the header kept); how many rows were removed."""
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return data, 0
    header, body = rows[0], rows[1:]
    kept = [row for row in body if not any(needles.match(cell) for cell in row)]
    removed = len(body) - len(kept)
    if not removed:
        return data, 0
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n" if "\r\n" in text else "\n")
    writer.writerow(header)
    writer.writerows(kept)
    prefix = "\ufeff" if text != data.decode("utf-8") else ""  # keep a BOM the file had
    return (prefix + out.getvalue()).encode("utf-8"), removed


def rows_of(data: bytes, needles: Needles) -> int:
    """How many of the CSV's rows are the person's."""
    return csv_without(data, needles)[1]
