"""Text helpers: accent- and case-insensitive folding for search and comparisons; text that
any file format can carry."""

import re
import unicodedata

# What XML 1.0 forbids (an XLSX is XML): C0 controls but tab, newline and carriage return,
# U+FFFE and U+FFFF; and lone surrogates, which UTF-8 cannot encode.
_NOT_IN_FILES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# Latin letters that Unicode does not decompose (NFKD keeps them whole), after casefold():
# their usual spelling in plain Latin letters, as people type them on a French keyboard
# ('coeur' for 'Cœur', 'aerwan' for 'Ærwan'; 'ß' and 'ẞ' casefold into 'ss' already).
# Changing this table changes stored keys: schema step _v4_folding recomputes the rows that
# hold one of these letters (FOLDED_APART); a new letter needs such a step again.
LATIN_SPELLING = {
    "æ": "ae",
    "œ": "oe",
    "ø": "o",
    "đ": "d",
    "ð": "d",
    "ł": "l",
    "þ": "th",
    "ħ": "h",
    "ı": "i",
    "ŧ": "t",
    "ŋ": "ng",
    "ƒ": "f",
    "ɖ": "d",
    "ǝ": "e",
    "ə": "e",
}
FOLDED_APART = tuple(LATIN_SPELLING)
_SPELLING = str.maketrans(LATIN_SPELLING)


def fold(value):
    """'Hélène' -> 'helene', 'Cœur' -> 'coeur': what search and comparisons use."""
    decomposed = unicodedata.normalize("NFKD", value or "")
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return bare.translate(_SPELLING)


def printable(value):
    """The text without the characters an export file cannot hold."""
    return _NOT_IN_FILES.sub("", value)


def plural(n, singular, plural_form=None):
    """'1 compte', '2 comptes', '0 compte' (French: 0 and 1 take the singular)."""
    word = singular if abs(n) < 2 else (plural_form or _plural_of(singular))
    return f"{n} {word}"


def _plural_of(words):
    """'inactivation programmée' -> 'inactivations programmées': each word takes an s
    (or x after -eau/-au), except those already ending in s, x or z."""

    def one(word):
        if word[-1:] in ("s", "x", "z"):
            return word
        if word.endswith(("eau", "au")):
            return word + "x"
        return word + "s"

    return " ".join(one(w) for w in words.split(" "))


MAX_SEARCH_WORDS = 10


def search_words(value):
    """The distinct folded words of a search, ten at most: one character may fold into
    several words ('ﷺ' into four), and each word is one more condition in the query, where
    hundreds overflow SQLite's parser."""
    return list(dict.fromkeys(fold(value).split()))[:MAX_SEARCH_WORDS]
