"""Text helpers: accent- and case-insensitive folding for search and comparisons."""

import unicodedata


def fold(value):
    """'Hélène' -> 'helene': what search and comparisons use."""
    decomposed = unicodedata.normalize("NFKD", value or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
