"""The offer and motif catalogue of the conventions (004_… annexe 3), kept as reference data.

TARGET_HOURS: the caisse's default target time for a first answer, per offer; a convention
may set its own per offer (e.g. 48 h for a signalement)."""

TARGET_HOURS = {
    "contact": 120,
    "document": 120,
    "rendez_vous": 120,
    "signalement": 48,
    "etude_dossier": 120,
}

# Motifs that make a request urgent or complex by nature (`002_…` §3.2).
URGENT_MOTIFS = {("signalement", "urgence"), ("signalement", "dossier_complexe")}

# (offer code, label, [(motif code, label)], motifs concern an assuré)
OFFERS = [
    (
        "contact",
        "Contacter votre organisme d'assurance maladie",
        [
            ("evolutions", "Connaître les évolutions législatives et réglementaires"),
            ("offres", "Connaître les offres de service de l'Assurance Maladie"),
            ("convention", "Gérer la convention de partenariat"),
            (
                "comptes",
                "Signaler des modifications du (ou des) compte(s) gestionnaire(s) partenaire",
            ),
            ("autre", "Autre motif de contact"),
        ],
        False,
    ),
    (
        "document",
        "Demander un document",
        [
            ("attestation_droits", "Attestation de droits"),
            ("ceam", "Certificat provisoire CEAM"),
            ("carte_vitale", "Formulaire carte Vitale"),
            ("prevention", "Offre de prévention"),
            ("autre", "Autre document"),
        ],
        True,
    ),
    (
        "rendez_vous",
        "Demander un rendez-vous pour un assuré",
        [
            ("ame", "AME"),
            ("arrets_travail", "Arrêts de travail, indemnités journalières"),
            ("c2s", "C2S"),
            ("capital_deces", "Capital décès"),
            ("invalidite", "Pension d'invalidité"),
            ("rente_atmp", "Rente AT/MP"),
            ("autre", "Autre motif de rendez-vous"),
        ],
        True,
    ),
    (
        "signalement",
        "Signaler une situation de difficulté d'accès aux droits et aux soins",
        [
            (
                "dossier_complexe",
                "Dossiers complexes (rétroactivité, rupture de droits, IJ complexes)",
            ),
            ("mission_accompagnement", "Saisine Mission accompagnement santé"),
            ("urgence", "Situation d'urgence"),
            ("suivi", "Suivi du traitement d'une demande faite par l'assuré"),
        ],
        True,
    ),
    (
        "etude_dossier",
        "Soumettre une demande d'étude de dossier",
        [
            ("ame", "AME"),
            ("aide_financiere", "Demande d'aide financière"),
            ("c2s", "Étude de C2S"),
            ("puma", "Ouverture de droits (PUMa)"),
            ("autre", "Autre motif (changement d'adresse, envoi de RIB…)"),
        ],
        True,
    ),
]
