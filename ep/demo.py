"""Fictitious demo data (CONTRACT.md, "Demo data"): invented names, example.org e-mails."""

import secrets
from datetime import date, timedelta

from . import audit, passwords
from .db import write
from .models import Account, Caisse, Convention, ConventionOffer, Offer, Partner, Referent, now

USERS = [
    # username, profile, organisation, civilite, prenom, nom, fonction
    (
        "caisse.demo",
        "caisse",
        "CPAM de Démo",
        "Mme",
        "Claire",
        "Démo-Caisse",
        "Conseillère partenariats",
    ),
    (
        "carsat.demo",
        "caisse",
        "CARSAT de Démo",
        "M.",
        "Karim",
        "Démo-Carsat",
        "Assistant de service social",
    ),
    (
        "gestionnaire.demo",
        "gestionnaire",
        "CCAS de Démo",
        "Mme",
        "Gaëlle",
        "Exemple",
        "Responsable action sociale",
    ),
    (
        "technicien.demo",
        "technicien",
        "CCAS de Démo",
        "M.",
        "Théo",
        "Exemple",
        "Travailleur social",
    ),
    (
        "gestionnaire.voisin",
        "gestionnaire",
        "CCAS Voisin",
        "M.",
        "Gérard",
        "Voisin-Exemple",
        "Directeur",
    ),
    (
        "technicien.voisin",
        "technicien",
        "CCAS Voisin",
        "Mme",
        "Tania",
        "Voisin-Exemple",
        "Conseillère sociale",
    ),
]


def load(password=None, today=None):
    """Add the demo data once; return (password, created) — created False if already there."""
    today = today or date.today()
    if Caisse.select().where(Caisse.name == "CPAM de Démo").exists():
        return None, False
    password = password or secrets.token_urlsafe(12)
    hashed = passwords.hash_password(password)
    with write():
        cpam = Caisse.create(name="CPAM de Démo")
        carsat = Caisse.create(name="CARSAT de Démo")
        ccas = Partner.create(name="CCAS de Démo", headcount=12)
        voisin = Partner.create(name="CCAS Voisin", headcount=5)
        start = today - timedelta(days=200)
        offers = list(Offer.select())
        for partner, caisse, docs in (
            (ccas, cpam, False),
            (ccas, carsat, True),
            (voisin, cpam, False),
        ):
            convention = Convention.create(
                partner=partner,
                caisse=caisse,
                signed_on=start - timedelta(days=10),
                starts_on=start,
                may_receive_documents=docs,
                habilitation_deadline_days=5 if caisse == cpam else 10,
            )
            for offer in offers:
                ConventionOffer.create(convention=convention, offer=offer)
            Referent.create(
                convention=convention,
                role="caisse",
                name=f"Service partenaires – {caisse.name}",
                function="Référent de la caisse",
                phone="01 02 03 04 05",
                email="partenaires@example.org",
            )
            Referent.create(
                convention=convention,
                role="dpo",
                name="Délégué à la protection des données",
                function=caisse.name,
                email="dpo@example.org",
            )
        orgs = {
            "CPAM de Démo": cpam,
            "CARSAT de Démo": carsat,
            "CCAS de Démo": ccas,
            "CCAS Voisin": voisin,
        }
        created = {}
        for username, profile, org, civ, prenom, nom, fonction in USERS:
            creator = None
            if profile == "gestionnaire":
                creator = created["caisse.demo"]
            elif profile == "technicien":
                creator = created[
                    "gestionnaire.demo" if org == "CCAS de Démo" else "gestionnaire.voisin"
                ]
            account = Account.create(
                username=username,
                profile=profile,
                state="active",
                caisse=orgs[org] if profile == "caisse" else None,
                partner=orgs[org] if profile != "caisse" else None,
                civilite=civ,
                prenom=prenom,
                nom=nom,
                fonction=fonction,
                telephone="01 00 00 00 00",
                email=f"{username}@example.org",
                password_hash=hashed,
                password_changed_at=now(),
                created_by=creator,
            )
            created[username] = account
            audit.record("account_created", actor=creator, account=account, detail="démo")
    return password, True
