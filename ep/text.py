"""Text helpers: accent- and case-insensitive folding for search and comparisons."""

import unicodedata


def fold(value):
    """'Hélène' -> 'helene': what search and comparisons use."""
    decomposed = unicodedata.normalize("NFKD", value or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


MAX_SEARCH_WORDS = 10


def search_words(value):
    """The distinct folded words of a search, ten at most: one character may fold into
    several words ('ﷺ' into four), and each word is one more condition in the query, where
    hundreds overflow SQLite's parser."""
    return list(dict.fromkeys(fold(value).split()))[:MAX_SEARCH_WORDS]
