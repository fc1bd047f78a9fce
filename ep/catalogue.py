"""Each caisse's catalogue of offers and motifs (§1.2, `004_…` annexe 3; issue 12.3).

A new caisse starts from the reference catalogue below, copied (`install_reference`), then
adapts it: renames an offer or a motif (the former label is kept for the requests sent
under it), adds a motif or an offer, withdraws one from new requests, says whether a motif
concerns an assuré, sets its default target time for a first answer. Every change is in the
audit trail. Which offers and motifs a structure may use is set per convention
(ep/partners.py)."""

from . import audit
from .db import write
from .models import Motif, MotifLabel, Offer, OfferLabel, now
from .rules import RuleError
from .text import fold

DEFAULT_TARGET_HOURS = 120

# The reference catalogue's default target time for a first answer, per offer; a caisse
# changes its own, and a convention may set its own per offer (e.g. 48 h for a signalement).
TARGET_HOURS = {
    "contact": 120,
    "document": 120,
    "rendez_vous": 120,
    "signalement": 48,
    "etude_dossier": 120,
}

# Motifs that make a request urgent or complex by nature (`002_…` §3.2), by codes.
URGENT_MOTIFS = {("signalement", "urgence"), ("signalement", "dossier_complexe")}

# The offer whose requests ask the caisse for a document: the form and the request say
# where it will be sent (`002_…` annexe 2 §1.3).
DOCUMENT_OFFER = "document"

# The reference catalogue, as in `004_…` annexe 3:
# (offer code, label, [(motif code, label, concerns an assuré)]).
OFFERS = [
    (
        "contact",
        "Contacter votre organisme d'assurance maladie",
        [
            ("evolutions", "Connaître les évolutions législatives et réglementaires", False),
            ("offres", "Connaître les offres de service de l'Assurance Maladie", False),
            ("convention", "Gérer la convention de partenariat", False),
            (
                "comptes",
                "Signaler des modifications du (ou des) compte(s) gestionnaire(s) partenaire",
                False,
            ),
            # Not marked (*) in the annexe: it is about an assuré's code AMELI.
            ("autre", "Autre motif de contact : code AMELI", True),
        ],
    ),
    (
        "document",
        "Demander un document",
        [
            ("attestation_droits", "Attestation de droits", True),
            ("ceam", "Certificat provisoire CEAM", True),
            ("carte_vitale", "Formulaire carte Vitale", True),
            ("prevention", "Offre de prévention", True),
            ("autre", "Autre document", True),
        ],
    ),
    (
        "rendez_vous",
        "Demander un rendez-vous pour un assuré",
        [
            ("ame", "AME", True),
            ("arrets_travail", "Arrêts de travail, indemnités journalières", True),
            ("c2s", "C2S", True),
            ("capital_deces", "Capital décès", True),
            ("invalidite", "Pension d'invalidité", True),
            ("rente_atmp", "Rente AT/MP", True),
            ("autre", "Autre motif de rendez-vous", True),
        ],
    ),
    (
        "signalement",
        "Signaler une situation de difficulté d'accès aux droits et aux soins",
        [
            (
                "dossier_complexe",
                "Dossiers complexes (rétroactivité, rupture de droits, IJ complexes)",
                True,
            ),
            ("mission_accompagnement", "Saisine Mission accompagnement santé", True),
            ("urgence", "Situation d'urgence", True),
            ("suivi", "Suivi du traitement d'une demande faite par l'assuré", True),
        ],
    ),
    (
        "etude_dossier",
        "Soumettre une demande d'étude de dossier",
        [
            ("ame", "AME", True),
            ("aide_financiere", "Demande d'aide financière", True),
            ("c2s", "Étude de C2S", True),
            ("puma", "Ouverture de droits (PUMa)", True),
            ("autre", "Autre motif (changement d'adresse, envoi de RIB…)", True),
        ],
    ),
]

# The label schema 4 corrects (issue 12.3): requests sent before keep it.
FORMER_AMELI_LABEL = "Autre motif de contact"

MAX_LABEL = 200
MIN_HOURS, MAX_HOURS = 1, 2000


def install_reference(caisse):
    """Give a new caisse its own copy of the reference catalogue (in the caller's
    transaction)."""
    for position, (code, label, motifs) in enumerate(OFFERS, start=1):
        offer = Offer.create(
            caisse=caisse,
            code=code,
            label=label,
            position=position,
            target_hours=TARGET_HOURS.get(code, DEFAULT_TARGET_HOURS),
        )
        Motif.insert_many(
            [
                {
                    "offer": offer.id,
                    "code": mcode,
                    "label": mlabel,
                    "position": mpos,
                    "concerns_assure": concerns,
                }
                for mpos, (mcode, mlabel, concerns) in enumerate(motifs, start=1)
            ]
        ).execute()


def offers_of(caisse_id):
    """The caisse's whole catalogue, withdrawn offers and motifs included: [(offer,
    [motifs])], in its order."""
    offers = list(
        Offer.select().where(Offer.caisse == caisse_id).order_by(Offer.position, Offer.id)
    )
    motifs = {offer.id: [] for offer in offers}
    for motif in (
        Motif.select().where(Motif.offer.in_(list(motifs))).order_by(Motif.position, Motif.id)
    ):
        motifs[motif.offer_id].append(motif)
    return [(offer, motifs[offer.id]) for offer in offers]


def former_labels(item):
    """The labels an offer or a motif had before, newest first: [(label, until)]."""
    model, column = (
        (OfferLabel, OfferLabel.offer)
        if isinstance(item, Offer)
        else (
            MotifLabel,
            MotifLabel.motif,
        )
    )
    rows = model.select().where(column == item.id).order_by(model.until.desc(), model.id.desc())
    return [(row.label, row.until) for row in rows]


def _label(raw, field="label"):
    label = " ".join((raw or "").split())
    if not label:
        raise RuleError("Indiquez le libellé.", field=field)
    if len(label) > MAX_LABEL:
        raise RuleError(f"{MAX_LABEL} caractères au plus.", field=field)
    return label


def _hours(raw, field="target_hours"):
    if raw is None or not MIN_HOURS <= raw <= MAX_HOURS:
        raise RuleError(
            f"Le délai cible s'exprime en heures, entre {MIN_HOURS} et {MAX_HOURS}.", field=field
        )
    return raw


def _code(label, taken):
    """A code made from the first label ("Prévention PDP" -> "prevention_pdp"), unique
    among `taken`: the label may change, the code never does."""
    base = "".join(c if c.isascii() and c.isalnum() else "_" for c in fold(label))
    base = "_".join(part for part in base.split("_") if part)[:36] or "motif"
    code, n = base, 1
    while code in taken:
        n += 1
        code = f"{base[: 36 - len(str(n)) - 1]}_{n}"
    return code


def _own(actor, offer):
    if actor.profile != "caisse" or offer.caisse_id != actor.caisse_id:
        raise RuleError("Ce catalogue est celui d'une autre caisse.")


def _rename(model, column, item, label, at):
    """Keep the label the item had until now, for the requests sent under it."""
    model.create(**{column: item.id}, label=item.label, until=at)
    item.label = label


def _yes_no(flag):
    return "oui" if flag else "non"


OFFER_TAKEN = "Votre catalogue a déjà une offre de ce libellé."
MOTIF_TAKEN = "Cette offre a déjà un motif de ce libellé."


def _refuse_taken(label, rows, message):
    """A label that folds like one of `rows`' (case and accents aside) is refused by its
    field: two offers, or two motifs of an offer, read alike in the lists."""
    if any(fold(row.label) == fold(label) for row in rows):
        raise RuleError(message, field="label")


def add_offer(actor, label, target_hours, at=None):
    """The caisse adds an offer to its catalogue (last in its order); it is activated for
    no structure until the caisse says so on a convention."""
    label = _label(label)
    target_hours = _hours(target_hours)
    with write():
        existing = list(Offer.select().where(Offer.caisse == actor.caisse_id))
        _refuse_taken(label, existing, OFFER_TAKEN)
        offer = Offer.create(
            caisse=actor.caisse_id,
            code=_code(label, {o.code for o in existing}),
            label=label,
            position=max((o.position for o in existing), default=0) + 1,
            target_hours=target_hours,
        )
        audit.record(
            "catalogue_offer_added",
            actor=actor,
            caisse=actor.caisse_id,
            detail=f"offre « {label} » ({offer.code}), délai cible {target_hours} h",
        )
    return offer


def update_offer(actor, offer, label, target_hours, active, at=None):
    """The caisse renames an offer (the former label stays on the requests sent before),
    sets its default target time, withdraws it from new requests or proposes it again."""
    _own(actor, offer)
    label = _label(label)
    target_hours = _hours(target_hours)
    at = at or now()
    with write():
        offer = Offer.get_by_id(offer.id)
        changes = []
        if label != offer.label:
            others = Offer.select(Offer.label).where(
                (Offer.caisse == offer.caisse_id) & (Offer.id != offer.id)
            )
            _refuse_taken(label, others, OFFER_TAKEN)
            changes.append(f"libellé « {offer.label} » → « {label} »")
            _rename(OfferLabel, "offer", offer, label, at)
        if target_hours != offer.target_hours:
            changes.append(f"délai cible {offer.target_hours} h → {target_hours} h")
            offer.target_hours = target_hours
        if bool(active) != offer.active:
            changes.append("proposée à nouveau" if active else "retirée des nouvelles demandes")
            offer.active = bool(active)
        if not changes:
            return offer
        offer.save()
        audit.record(
            "catalogue_offer_updated",
            actor=actor,
            caisse=offer.caisse_id,
            detail=f"offre {offer.code} : " + ", ".join(changes),
        )
    return offer


def add_motif(actor, offer, label, concerns_assure, at=None):
    """The caisse adds a motif to one of its offers: open to every structure that has the
    offer, unless the caisse switches it off on a convention."""
    _own(actor, offer)
    label = _label(label)
    with write():
        existing = list(Motif.select().where(Motif.offer == offer.id))
        _refuse_taken(label, existing, MOTIF_TAKEN)
        motif = Motif.create(
            offer=offer.id,
            code=_code(label, {m.code for m in existing}),
            label=label,
            position=max((m.position for m in existing), default=0) + 1,
            concerns_assure=bool(concerns_assure),
        )
        audit.record(
            "catalogue_motif_added",
            actor=actor,
            caisse=offer.caisse_id,
            detail=f"offre {offer.code}, motif « {label} » ({motif.code}), concerne un assuré : "
            f"{_yes_no(concerns_assure)}",
        )
    return motif


def update_motif(actor, motif, label, concerns_assure, active, at=None):
    """The caisse renames a motif (the former label stays on the requests sent before),
    says whether it concerns an assuré (the form then asks for the assuré's identity),
    withdraws it from new requests or proposes it again."""
    offer = Offer.get_by_id(motif.offer_id)
    _own(actor, offer)
    label = _label(label)
    at = at or now()
    with write():
        motif = Motif.get_by_id(motif.id)
        changes = []
        if label != motif.label:
            others = Motif.select(Motif.label).where(
                (Motif.offer == offer.id) & (Motif.id != motif.id)
            )
            _refuse_taken(label, others, MOTIF_TAKEN)
            changes.append(f"libellé « {motif.label} » → « {label} »")
            _rename(MotifLabel, "motif", motif, label, at)
        if bool(concerns_assure) != motif.concerns_assure:
            changes.append(f"concerne un assuré : {_yes_no(concerns_assure)}")
            motif.concerns_assure = bool(concerns_assure)
        if bool(active) != motif.active:
            changes.append("proposé à nouveau" if active else "retiré des nouvelles demandes")
            motif.active = bool(active)
        if not changes:
            return motif
        motif.save()
        audit.record(
            "catalogue_motif_updated",
            actor=actor,
            caisse=offer.caisse_id,
            detail=f"offre {offer.code}, motif {motif.code} : " + ", ".join(changes),
        )
    return motif
