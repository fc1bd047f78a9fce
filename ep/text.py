"""Text helpers: accent- and case-insensitive folding for search and comparisons; text that
any file format can carry."""

import re
import unicodedata

# What XML 1.0 forbids (an XLSX is XML): C0 controls but tab, newline and carriage return,
# U+FFFE and U+FFFF; and lone surrogates, which UTF-8 cannot encode.
_NOT_IN_FILES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def fold(value):
    """'Hélène' -> 'helene': what search and comparisons use."""
    decomposed = unicodedata.normalize("NFKD", value or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def printable(value):
    """The text without the characters an export file cannot hold."""
    return _NOT_IN_FILES.sub("", value)
