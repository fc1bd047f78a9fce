"""Words that suggest health data in a comment (§5, CNIL guidance): a warning, not a refusal."""

import re

from .text import fold

# Folded (no accents, lower case) stems; matched at the start of a word.
STEMS = [
    "maladi",
    "malade",
    "cancer",
    "tumeur",
    "chimio",
    "radiotherap",
    "diabet",
    "insuline",
    "vih",
    "sida",
    "seropositi",
    "hepatite",
    "depress",
    "psychiatr",
    "psychos",
    "schizophren",
    "bipolai",
    "suicid",
    "alzheimer",
    "parkinson",
    "avc",
    "infarctus",
    "cardiaque",
    "dialyse",
    "handicap",
    "grossesse",
    "enceinte",
    "ivg",
    "fausse couche",
    "alcool",
    "toxicoman",
    "addiction",
    "drogue",
    "hospitalis",
    "hopital",
    "chirurg",
    "diagnosti",
    "pathologi",
    "traitement medical",
    "medicament",
    "ordonnance",
    "sclerose",
    "epilepsi",
    "autism",
    "covid",
    "tuberculose",
    "allergi",
    "asthme",
    "obesit",
    "anorexi",
    "boulimi",
    "mst",
    "ist ",
]

_PATTERN = re.compile(r"\b(" + "|".join(re.escape(s) for s in STEMS) + r")")


def suggests_health_data(text):
    """The words of the text, as typed, that look like health data (empty when none)."""
    text = text or ""
    found = []
    for word in re.findall(r"[\w-]+", text):
        if _PATTERN.match(fold(word) + " ") and word not in found:
            found.append(word)
    for m in _PATTERN.finditer(fold(text)):  # two-word stems ("fausse couche")
        stem = m.group(1).strip()
        if " " in stem and stem not in found:
            found.append(stem)
    return found
