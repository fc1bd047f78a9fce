"""Detecting a NIR (numéro de sécurité sociale) typed into free text (§5).

A NIR is 13 characters plus a 2-digit key: sex (1, 2, or 3/4/7/8 for temporary numbers),
year (2 digits), month (01-12, or 20-42 / 50-99 when unknown), département (2 digits, 2A or
2B for Corsica), commune or country (3 digits), order (3 digits), key = 97 - (number mod 97),
where 2A counts as 19 and 2B as 18. People write it with spaces, dots or dashes.
"""

import re

_SEP = r"[\s.\-_/]*"
_CANDIDATE = re.compile(
    r"(?<![0-9A-Za-z])"
    + _SEP.join(
        [
            r"(?P<sex>[1-478])",
            r"(?P<year>\d{2})",
            r"(?P<month>\d{2})",
            r"(?P<dept>\d{2}|2[ABab])",
            r"(?P<commune>\d{3})",
            r"(?P<order>\d{3})",
            r"(?P<key>\d{2})",
        ]
    )
    + r"(?![0-9A-Za-z])"
)


def _valid_month(month):
    m = int(month)
    return 1 <= m <= 12 or 20 <= m <= 42 or 50 <= m <= 99


def key_for(body13):
    """The control key of the 13 first characters (Corsica letters replaced)."""
    dept = body13[5:7].upper()
    digits = body13[:5] + {"2A": "19", "2B": "18"}.get(dept, dept) + body13[7:]
    return 97 - int(digits) % 97


def find(text):
    """The NIRs found in the text (normalised, without separators)."""
    found = []
    for m in _CANDIDATE.finditer(text or ""):
        if not _valid_month(m["month"]):
            continue
        body = m["sex"] + m["year"] + m["month"] + m["dept"].upper() + m["commune"] + m["order"]
        if int(m["key"]) == key_for(body):
            found.append(body + m["key"])
    return found


def contains_nir(text):
    return bool(find(text))
