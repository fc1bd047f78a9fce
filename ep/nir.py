"""Detecting a NIR (numéro de sécurité sociale) typed into free text (§5).

A NIR is a 13-character body plus a 2-digit key: sex (1, 2, or 3/4/7/8 for temporary
numbers), year (2 digits), month (01-12, or 20-42 / 50-99 when unknown), département (2
digits, 2A or 2B for Corsica), commune or country (3 digits), order (3 digits); key = 97 -
(number mod 97), where 2A counts as 19 and 2B as 18.

People (and people trying to get around a check) write it in many ways: grouped with any
punctuation, glued to words ("NIR185…"), with the key apart ("… clé 73", "(73)"), without
it, with a wrong one, in fullwidth or other Unicode digits, with invisible characters inside.
So the detector works on a normalised text, and looks for the *body*, whatever the key:

1. `normalise`: Unicode NFKC, format characters (zero-width, soft hyphen…) removed, every
   Unicode decimal digit as its ASCII digit;
2. the text is cut into runs of digit groups: any run of non-alphanumeric characters (but a
   line break or a list separator such as ", ") joins two groups, a letter ends a run;
3. a run holds a NIR when a 13-character body that is plausible (sex, month, département)
   starts where a group starts, and ends where a group ends, or is followed by 2 key digits
   that end a group.

Groups must line up with the body: a phone number, a SIRET, an IBAN, dates or amounts written
one after another do not make a NIR (tests/test_nir.py holds both kinds; BENCHMARKS.md says
how many of each it gets right).
"""

import re
import unicodedata

REFUSED = (
    "Ce texte contient un numéro de sécurité sociale (NIR). Il ne doit jamais être saisi : "
    "s'il est indispensable, joignez un document qui le porte."
)

# A group of digits (Corsica's 2A/2B counts as digits), a word, or what lies between.
_TOKEN = re.compile(
    r"(?P<num>(?:[0-9]|(?<=2)[AaBb](?![A-Za-z]))+)|(?P<word>[^\W\d_]+)|(?P<sep>[\W_]+)"
)
# What may join two groups of one number: a few punctuation or space characters, but not a
# line break, and not a list separator (", ", "; ", " / ") that ends one number before another.
_JOINER = re.compile(r"[^\S\n]{0,2}[^\w\s]{0,2}[^\S\n]{0,2}")
_LIST_SEPARATOR = re.compile(r"[,;/]\s|\s[/;]")
_BODY = re.compile(
    r"[1-478][0-9]{2}"  # sex, year
    r"(?:0[1-9]|1[0-2]|[2-3][0-9]|4[0-2]|[5-9][0-9])"  # month (20-42, 50-99: unknown)
    r"(?:[0-9]{2}|2[AaBb])[0-9]{6}"  # département, commune, order
)


def normalise(text):
    """NFKC, format characters dropped, any decimal digit as ASCII."""
    out = []
    for ch in unicodedata.normalize("NFKC", text or ""):
        if unicodedata.category(ch) == "Cf":
            continue
        digit = unicodedata.decimal(ch, None)
        out.append(str(digit) if digit is not None and not ch.isascii() else ch)
    return "".join(out)


def _runs(text):
    """Runs of digit groups: [(digits, boundaries)] with the offsets where groups start/end."""
    runs, digits, bounds = [], "", set()
    pending_sep = None
    for m in _TOKEN.finditer(text):
        if m["num"]:
            if digits and pending_sep is not None and not _joins(pending_sep):
                runs.append((digits, bounds))
                digits, bounds = "", set()
            bounds.add(len(digits))
            digits += m["num"]
            bounds.add(len(digits))
            pending_sep = ""
        elif m["word"]:
            if digits:
                runs.append((digits, bounds))
            digits, bounds, pending_sep = "", set(), None
        else:
            pending_sep = m["sep"] if digits else None
    if digits:
        runs.append((digits, bounds))
    return runs


def _joins(separator):
    return bool(_JOINER.fullmatch(separator)) and not _LIST_SEPARATOR.search(separator)


def key_for(body13):
    """The control key of the 13 first characters (Corsica letters replaced)."""
    dept = body13[5:7].upper()
    digits = body13[:5] + {"2A": "19", "2B": "18"}.get(dept, dept) + body13[7:]
    return 97 - int(digits) % 97


def find(text):
    """The NIRs found in the text, without separators: body and key when a key follows."""
    found = []
    for digits, bounds in _runs(normalise(text)):
        for start in sorted(bounds):
            m = _BODY.match(digits, start)
            if m is None:
                continue
            end = m.end()
            if end + 2 in bounds and digits[end : end + 2].isdigit():
                found.append(digits[start : end + 2].upper())
            elif end in bounds:
                found.append(digits[start:end].upper())
    return found


def contains_nir(text):
    return bool(text) and bool(find(text))
