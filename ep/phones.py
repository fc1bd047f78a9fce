"""Phone numbers (issue 10.7): read with Google's libphonenumber (the `phonenumbers` package,
pure Python), stored in one form (E.164: `+33389000000`), shown as people write them: French
numbers as `03 89 00 00 00`, every other one in international form (`+41 22 345 67 89`,
`+262 262 12 34 56`), so that a spreadsheet keeps the leading zero and the country.
"""

import functools
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from .rules import RuleError

INVALID = (
    "Numéro de téléphone invalide : 10 chiffres (03 89 00 00 00) ou format international "
    "(+41 22 345 67 89)."
)
# The overseas departments and communities dialled from France with a 0 like a French number
# (0262 12 34 56): such a number is theirs, not metropolitan France's.
OVERSEAS = ("RE", "YT", "GP", "MQ", "GF", "PM", "BL", "MF")


def _parse(text):
    """The number `text` designates, or None."""
    try:
        number = phonenumbers.parse(text, "FR")
    except NumberParseException:
        return None
    if number.country_code == 33 and not text.lstrip().startswith(("+", "00")):
        for region in OVERSEAS:
            try:
                local = phonenumbers.parse(text, region)
            except NumberParseException:
                continue
            if phonenumbers.is_valid_number_for_region(local, region):
                return local
    return number if phonenumbers.is_valid_number(number) else None


def normalise(raw, field="telephone"):
    """The E.164 form of a typed number ('' for none); RuleError when it is not one."""
    text = (raw or "").strip()
    if not text:
        return ""
    # Letters and other signs are not part of a number ("0123456789;DROP" is not one),
    # although the library would skip them.
    if any(not (c.isdigit() or c in " .-/()+") for c in text):
        raise RuleError(INVALID, field=field)
    number = _parse(text)
    if number is None:
        raise RuleError(INVALID, field=field)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def stored_form(raw):
    """The E.164 form when `raw` reads as a number; otherwise `raw` unchanged (what was
    typed before numbers were checked is kept, not lost)."""
    try:
        return normalise(raw)
    except RuleError:
        return raw


E164 = re.compile(r"\+[1-9][0-9]{1,14}")


@functools.lru_cache(maxsize=8192)
def display(value):
    """`03 89 00 00 00` for France, the international form elsewhere; a value that does not
    read as a number is shown as it is. The stored form (E.164) is parsed once, and a
    number shown again is not parsed again (a user export shows thousands)."""
    try:
        if E164.fullmatch(value or ""):
            number = phonenumbers.parse(value, None)
            if not phonenumbers.is_valid_number(number):
                return value
        else:  # typed before numbers were stored in one form
            number = phonenumbers.parse(normalise(value), None)
    except (RuleError, NumberParseException):
        return value or ""
    if number.country_code == 33:
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
