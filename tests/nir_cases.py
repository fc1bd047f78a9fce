"""The NIR detector's test table: texts that hold a NIR, written every way the attack test
(issue 9) and real users wrote them, and ordinary texts full of numbers that must pass.
Used by tests/test_nir.py and bench/nir_detector.py (its counts go to BENCHMARKS.md)."""

# Fictitious but well-formed NIRs (valid structure and key), one of them Corsican.
BASES = ["185057800608436", "269127512301264", "2940399012345" + "54", "185052A00604817"]


def _key(body):
    from ep.nir import key_for

    return f"{key_for(body):02d}"


def _fix(n):
    return n[:13] + _key(n[:13])


NIRS = [_fix(n) for n in BASES]


def _groups(n):
    return [n[0], n[1:3], n[3:5], n[5:7], n[7:10], n[10:13], n[13:15]]


def _forms(n):
    g = _groups(n)
    body, key = n[:13], n[13:]
    wrong = f"{(int(key) + 1) % 100:02d}"
    fullwidth = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in n)
    arabic = "".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in n)
    devanagari = "".join(chr(0x0966 + int(c)) if c.isdigit() else c for c in n)
    return [
        n,
        " ".join(g),
        ".".join(g),
        "-".join(g),
        "–".join(g),  # en dash
        ",".join(g),
        ":".join(g),
        "·".join(g),  # middle dot
        "/".join(g),
        " - ".join(g),
        f"NIR{n}",
        f"NIR{body} {key}",
        f"n°{' '.join(g)}",
        f"{body} clé {key}",
        f"{body} ({key})",
        f"{body} - {key}",
        body,
        f"le numéro {body} de l'assuré",
        body + wrong,
        " ".join(g[:-1]) + " " + wrong,
        fullwidth,
        arabic,
        devanagari,
        n[:4] + "\u200b" + n[4:],  # zero-width space
        n[:6] + "\u00ad" + n[6:],  # soft hyphen
        n[:2] + "\u2060" + n[2:9] + "\ufeff" + n[9:],  # word joiner, BOM
        f"Son numéro est le {' '.join(g)}, merci de vérifier.",
        f"scan_{n}_recto.pdf",
        f"attestation-NIR-{body}.pdf",
        f"SS:{n}",
    ]


NIR_TEXTS = [form for n in NIRS for form in _forms(n)]

ORDINARY_TEXTS = [
    "Tél. 03 89 00 00 00",
    "06 12 34 56 78",
    "+33 3 89 12 34 56",
    "0389000000",
    "SIRET 216 802 240 00017",
    "21680224000017",
    "SIREN 216 802 240",
    "IBAN FR76 3000 6000 0112 3456 7890 189",
    "FR7630006000011234567890189",
    "BIC CEPAFRPP",
    "Montant : 1 234 567,89 €",
    "12 345,00 euros",
    "Né le 25/11/1985",
    "du 01/01/2026 au 31/12/2026",
    "rendez-vous le 12/05/2026 à 14 h 30",
    "68100 Mulhouse",
    "83190, 13001, 75011",
    "Allocataire CAF n° 1234567",
    "numéro CAF 7654321",
    "dossier 2026-000123",
    "réf. 2026-11-000123",
    "Référence MDPH 68-2024-0012345",
    "courrier n° 2026/4521/AB",
    "12399, 03 89 12 34 56",
    "Appeler le 03 89 12 34 56 ou le 06 11 22 33 44",
    "Ticket 4512 3698 7412",
    "Facture 2026-0042 du 15/03/2026, 245,50 €",
    "Code postal 97411, commune 974",
    "Téléphone : 03.89.00.00.00",
    "Horaires : 8 h 30 – 12 h, 13 h 30 – 17 h",
    "Carte Vitale perdue le 03/02/2026",
    "Numéro de dossier ASE 2025 04 118",
    "Loyer 520 €, APL 210 €, reste 310 €",
    "Contrat 1234-5678-9012",
    "Version 2.10.3 du logiciel",
]
